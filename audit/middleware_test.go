package audit

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestMiddlewareScopeFromARealRequest(t *testing.T) {
	out := &memOutput{}
	l := newTestLogger(t, out, Config{HeartbeatInterval: -1})
	mux := http.NewServeMux()
	mux.HandleFunc("PATCH /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		l.Record(r.Context(), Event{Action: ActionUpdate, Target: Target{Type: "Order", ID: r.PathValue("id")}})
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		// The actor becomes known inside the request.
		SetActor(r.Context(), Actor{Type: "User", ID: "77"})
		l.Record(r.Context(), Event{Action: ActionLogin})
	})
	h := Middleware(HTTPConfig{
		Actor: func(r *http.Request) (Actor, bool) {
			if tok := r.Header.Get("Authorization"); tok == "Bearer u42" {
				return Actor{Type: "User", ID: "42"}, true
			}
			return Actor{}, false
		},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")},
	})(mux)
	srv := httptest.NewServer(h)
	defer srv.Close()

	do := func(method, path string, hdr map[string]string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	r1 := do("PATCH", "/orders/17", map[string]string{
		"Authorization":   "Bearer u42",
		"User-Agent":      "shop-admin/1.0",
		"X-Forwarded-For": "198.51.100.9, 203.0.113.5, 10.1.2.3",
		"X-Request-Id":    "req-abc",
	})
	if r1.Header.Get("X-Request-Id") != "" {
		t.Fatal("a request id given by the proxy was echoed as if generated")
	}
	r2 := do("POST", "/login", map[string]string{"X-Forwarded-For": "bad-value"})
	l.Flush(context.Background())
	evs := out.events(t)
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	c1 := evs[0]["context"].(map[string]any)
	for k, want := range map[string]string{
		"ip": "203.0.113.5", "user_agent": "shop-admin/1.0", "request_id": "req-abc",
		"endpoint": "PATCH /orders/{id}", "host": srv.Listener.Addr().String(),
	} {
		if c1[k] != want {
			t.Errorf("context.%s = %v, want %q", k, c1[k], want)
		}
	}
	if _, ok := c1["caller"]; ok {
		t.Error("a request's event names a caller")
	}
	if a := evs[0]["actor"].(map[string]any); a["id"] != "42" {
		t.Errorf("actor %v", a)
	}
	c2 := evs[1]["context"].(map[string]any)
	if c2["endpoint"] != "POST /login" || c2["ip"] != "127.0.0.1" {
		t.Errorf("login context %v", c2)
	}
	if c2["request_id"] != r2.Header.Get("X-Request-Id") || len(r2.Header.Get("X-Request-Id")) != 32 {
		t.Errorf("generated request id %v, echoed %q", c2["request_id"], r2.Header.Get("X-Request-Id"))
	}
	if a := evs[1]["actor"].(map[string]any); a["id"] != "77" {
		t.Errorf("SetActor not seen: %v", a)
	}
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, c := range []struct {
		peer, xff, want string
	}{
		{"203.0.113.1:5000", "1.2.3.4", "203.0.113.1"},             // untrusted peer: header ignored
		{"10.0.0.5:5000", "1.2.3.4", "1.2.3.4"},                    // one proxy
		{"10.0.0.5:5000", "6.6.6.6, 1.2.3.4, 10.9.9.9", "1.2.3.4"}, // rightmost untrusted
		{"10.0.0.5:5000", "", "10.0.0.5"},                          // trusted peer, no header
		{"10.0.0.5:5000", "10.1.1.1, 10.2.2.2", "10.1.1.1"},        // all trusted: leftmost
		{"10.0.0.5:5000", "1.2.3.4, junk", "10.0.0.5"},             // broken hop: stop at the last good
		{"[::1]:80", "2001:db8::1", "2001:db8::1"},
		{"[::ffff:10.0.0.1]:80", "5.6.7.8", "5.6.7.8"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := clientIP(r, trusted); got != c.want {
			t.Errorf("peer %s xff %q: %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
}
