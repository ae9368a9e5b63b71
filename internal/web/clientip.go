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
		ip, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: trust nothing to its left
		}
		ip = ip.Unmap()
		if !isTrusted(ip, trusted) {
			return ip.String()
		}
	}
	return peer.String()
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
