package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIPs finds the client's address and records it in the request state.
//
// Threat model: any client can send X-Forwarded-For, so the header is
// believed only when the socket peer is one of the configured trusted
// proxies. Then the address is the right-most one in the header that is
// not itself a trusted proxy: everything left of it may have been written
// by the client. With no trusted proxies the socket address is the answer,
// whatever the headers say.
func clientIPs(trusted []netip.Prefix) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			stateOf(r.Context()).clientIP = clientIP(r, trusted)
			next.ServeHTTP(w, r)
		})
	}
}

func clientIP(r *http.Request, trusted []netip.Prefix) string {
	peer := socketIP(r.RemoteAddr)
	if !peer.IsValid() {
		return r.RemoteAddr
	}
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		ip, ok := hopIP(hops[i])
		if !ok {
			break // a malformed hop: trust nothing to its left
		}
		if !isTrusted(ip, trusted) {
			return ip.String()
		}
	}
	return peer.String()
}

// hopIP reads one X-Forwarded-For entry: an address, or an address with
// the client's port as some proxies append it ("203.0.113.7:51234",
// "[2001:db8::7]:51234", "[2001:db8::7]"). Read as a bare address only,
// every client of such a proxy would fall back to the proxy's own address
// and share one rate-limit bucket.
func hopIP(hop string) (netip.Addr, bool) {
	hop = strings.TrimSpace(hop)
	if ip, err := netip.ParseAddr(hop); err == nil {
		return ip.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(hop); err == nil {
		return ap.Addr().Unmap(), true
	}
	if inner, ok := strings.CutPrefix(hop, "["); ok {
		if inner, ok = strings.CutSuffix(inner, "]"); ok {
			if ip, err := netip.ParseAddr(inner); err == nil && ip.Is6() {
				return ip.Unmap(), true
			}
		}
	}
	return netip.Addr{}, false
}

func socketIP(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
