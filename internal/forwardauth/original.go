package forwardauth

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// maxURL bounds the original URL that is believed and carried in rd.
const maxURL = 2000

// Proxies are the trusted reverse proxies (TRUSTED_PROXIES).
//
// Threat model: anyone who can reach Latch can send X-Forwarded-Host or
// X-Original-URL and so name a site of their choosing, perhaps one with a
// looser rule than the site they are really after. The headers are
// believed only when the socket peer is a trusted proxy, which sets them
// itself. Without TRUSTED_PROXIES nothing is believed and every host is
// denied.
type Proxies []netip.Prefix

// Trusts reports whether the socket peer remoteAddr is a trusted proxy.
func (p Proxies) Trusts(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, pr := range p {
		if pr.Contains(ip) {
			return true
		}
	}
	return false
}

// forwarded rebuilds the original URL from X-Forwarded-Proto, -Host and
// -Uri (Traefik, Caddy), or returns nil when it cannot be believed.
func (h *Handler) forwarded(r *http.Request) *url.URL {
	if !h.cfg.Proxies.Trusts(r.RemoteAddr) {
		return nil
	}
	hd := r.Header
	host, ok := single(hd, "X-Forwarded-Host")
	if !ok || host == "" {
		return nil
	}
	proto, ok := single(hd, "X-Forwarded-Proto")
	if !ok {
		return nil
	}
	if proto == "" {
		proto = h.cfg.BaseURL.Scheme
	}
	uri, ok := single(hd, "X-Forwarded-Uri")
	if !ok {
		return nil
	}
	if uri == "" {
		uri = "/"
	}
	return checkOriginal(strings.ToLower(proto) + "://" + host + uri)
}

// originalURL reads X-Original-URL (nginx), falling back to the
// X-Forwarded-* set.
func (h *Handler) originalURL(r *http.Request) *url.URL {
	if !h.cfg.Proxies.Trusts(r.RemoteAddr) {
		return nil
	}
	raw, ok := single(r.Header, "X-Original-URL")
	if !ok {
		return nil
	}
	if raw != "" {
		return checkOriginal(raw)
	}
	return h.forwarded(r)
}

// single returns the one value of a header ("" when absent); ok is
// false when it is ambiguous: several values, or a comma-separated list
// (X-Forwarded-Uri, a path that may hold commas, excepted from the list
// rule).
func single(hd http.Header, name string) (v string, ok bool) {
	vs := hd.Values(name)
	switch {
	case len(vs) == 0:
		return "", true
	case len(vs) > 1 || (name != "X-Forwarded-Uri" && name != "X-Original-URL" && strings.Contains(vs[0], ",")):
		return "", false
	}
	return strings.TrimSpace(vs[0]), true
}

// checkOriginal parses an absolute http(s) URL with a host name (or IP
// address), no user info, and a path; anything else is not believed.
func checkOriginal(raw string) *url.URL {
	if len(raw) > maxURL {
		return nil
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] <= 0x20 || raw[i] == 0x7f {
			return nil
		}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Opaque != "" || u.Host == "" {
		return nil
	}
	if !strings.HasPrefix(u.EscapedPath(), "/") && u.Path != "" {
		return nil
	}
	name := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if _, err := netip.ParseAddr(name); err != nil && checkHostName(name) != nil {
		return nil
	}
	u.Fragment, u.RawFragment = "", ""
	return u
}
