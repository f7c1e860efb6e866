package audit

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// HTTPConfig configures Middleware. The zero value trusts no proxy, reads
// the request id from X-Request-Id and names no actor.
type HTTPConfig struct {
	// Actor returns who makes the request, from a session or token the
	// application has already checked; ok false means nobody (yet). An
	// authentication layer below the middleware can call SetActor instead.
	Actor func(r *http.Request) (a Actor, ok bool)
	// Tenant returns the tenant of the request; nil or "" means the Logger's.
	Tenant func(r *http.Request) string
	// TrustedProxies are the load balancers and proxies whose
	// X-Forwarded-For is believed. The client IP is the rightmost address of
	// that header not in these ranges, when the peer itself is in them; a
	// peer outside them is the client, whatever the header says.
	TrustedProxies []netip.Prefix
	// RequestIDHeader names the header carrying the request id set by a
	// proxy in front. Default "X-Request-Id". Without one, an id is
	// generated and echoed in the response under the same header.
	RequestIDHeader string
	// Endpoint names the endpoint of a request for routers other than
	// net/http's ServeMux. Default: the ServeMux pattern that matched, with
	// its method ("GET /orders/{id}"), read after routing.
	Endpoint func(r *http.Request) string
}

// Middleware returns net/http middleware that puts the request's Scope in
// its context: actor, client IP, user agent, request id, endpoint, host.
// Events recorded with the request's context (r.Context(), or a context
// derived from it in any goroutine) carry them.
//
// Wrap the ServeMux itself (Middleware(cfg)(mux)): the endpoint is the
// pattern the mux matches, never the raw path with its ids.
func Middleware(cfg HTTPConfig) func(http.Handler) http.Handler {
	hdr := cfg.RequestIDHeader
	if hdr == "" {
		hdr = "X-Request-Id"
	}
	hdr = http.CanonicalHeaderKey(hdr)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f := &frame{s: Scope{
				Host:      r.Host,
				IP:        clientIP(r, cfg.TrustedProxies),
				UserAgent: r.UserAgent(),
			}}
			if id := r.Header.Get(hdr); validRequestID(id) {
				f.s.RequestID = id
			} else {
				f.s.RequestID = newRequestID()
				w.Header().Set(hdr, f.s.RequestID)
			}
			if cfg.Actor != nil {
				if a, ok := cfg.Actor(r); ok {
					f.s.Actor = a
				}
			}
			if cfg.Tenant != nil {
				f.s.Tenant = cfg.Tenant(r)
			}
			if cfg.Endpoint != nil {
				f.s.Endpoint = cfg.Endpoint(r)
			}
			if p := frameFrom(r.Context()); p != nil {
				inherit(&f.s, p.snapshot())
			}
			r2 := r.WithContext(contextWithFrame(r.Context(), f))
			if f.s.Endpoint == "" {
				f.req = r2 // ServeMux sets r2.Pattern when it routes
			}
			next.ServeHTTP(w, r2)
		})
	}
}

// inherit fills the empty fields of s from an outer scope (a job that
// serves requests, a tenant set by an outer layer).
func inherit(s *Scope, outer Scope) {
	if s.Actor.IsZero() {
		s.Actor = outer.Actor
	}
	if s.Tenant == "" {
		s.Tenant = outer.Tenant
	}
	if s.Caller == "" {
		s.Caller = outer.Caller
	}
	if s.TraceID == "" {
		s.TraceID = outer.TraceID
	}
}

// validRequestID accepts what a proxy plausibly sends: 1–128 printable
// ASCII characters. Anything else is replaced by a generated id.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// clientIP returns the client's address: the peer, or, when the peer is a
// trusted proxy, the rightmost untrusted address in X-Forwarded-For.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	client := peer
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return client.String() // a forged or broken hop: stop at the last good one
			}
			a = a.Unmap()
			client = a
			if !isTrusted(a, trusted) {
				return a.String()
			}
		}
	}
	return client.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
