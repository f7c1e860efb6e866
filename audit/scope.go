package audit

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"sync"
)

// Scope is where and how events happen: the request or job an event belongs
// to. It travels in a context.Context, so code deep in a request records
// events without passing it around.
type Scope struct {
	Actor     Actor
	Tenant    string // "" means the Logger's tenant
	Host      string // the host the request was addressed to
	IP        string // the client's address, proxies resolved
	UserAgent string
	RequestID string
	Endpoint  string // "GET /orders/{id}": method and route pattern
	Caller    string // for jobs: the function that runs them
	TraceID   string
}

type scopeKey struct{}

// frame is what a context carries. Its scope can change in place (SetActor
// after a login) and its endpoint may come from the routed request later,
// so it has a lock.
type frame struct {
	mu  sync.Mutex
	s   Scope
	req *http.Request // for the route pattern, known only after routing
}

func frameFrom(ctx context.Context) *frame {
	if ctx == nil {
		return nil
	}
	f, _ := ctx.Value(scopeKey{}).(*frame)
	return f
}

// snapshot copies the scope as it is now.
func (f *frame) snapshot() Scope {
	f.mu.Lock()
	s := f.s
	if s.Endpoint == "" && f.req != nil && f.req.Pattern != "" {
		s.Endpoint = endpoint(f.req.Method, f.req.Pattern)
		f.s.Endpoint = s.Endpoint
	}
	f.mu.Unlock()
	return s
}

// endpoint names a route: "METHOD PATTERN" without the host part of a
// pattern, whether or not the pattern names the method.
func endpoint(method, pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		return pattern // "GET /orders/{id}" already has its method
	}
	return method + " " + pattern
}

// ScopeFrom returns the scope ctx carries, or the zero Scope.
func ScopeFrom(ctx context.Context) Scope {
	if f := frameFrom(ctx); f != nil {
		return f.snapshot()
	}
	return Scope{}
}

// WithScope returns a context that carries s, replacing any scope of ctx.
func WithScope(ctx context.Context, s Scope) context.Context {
	return contextWithFrame(ctx, &frame{s: s})
}

func contextWithFrame(ctx context.Context, f *frame) context.Context {
	return context.WithValue(ctx, scopeKey{}, f)
}

// with derives a new frame from ctx's scope, changed by fn.
func with(ctx context.Context, fn func(*Scope)) context.Context {
	s := ScopeFrom(ctx)
	fn(&s)
	return WithScope(ctx, s)
}

// WithActor returns a context whose scope has actor a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return with(ctx, func(s *Scope) { s.Actor = a })
}

// WithTenant returns a context whose events go to tenant t.
func WithTenant(ctx context.Context, t string) context.Context {
	return with(ctx, func(s *Scope) { s.Tenant = t })
}

// WithCaller returns a context whose events name caller as what ran them
// (a job, a command, a consumer).
func WithCaller(ctx context.Context, caller string) context.Context {
	return with(ctx, func(s *Scope) { s.Caller = caller })
}

// Job returns a context for a batch job or background goroutine run by actor
// (a service account, or the zero Actor for the system). Its caller is the
// function that calls Job, unless ctx already names one. Events recorded
// with it carry no request fields unless ctx had them.
func Job(ctx context.Context, actor Actor) context.Context {
	caller := ""
	if ScopeFrom(ctx).Caller == "" {
		caller = callerName(2)
	}
	return with(ctx, func(s *Scope) {
		s.Actor = actor
		if caller != "" {
			s.Caller = caller
		}
	})
}

// SetActor sets the actor of the scope ctx carries, in place, so that the
// rest of the request — including code that holds an earlier context of it,
// such as the middleware — sees it. Use it where the actor becomes known
// inside a request: after a login, in an authentication layer below the
// middleware. It is safe to call while other goroutines record with the
// same scope; each event takes the actor as it is when recorded. It
// reports false when ctx carries no scope (use WithActor).
func SetActor(ctx context.Context, a Actor) bool {
	f := frameFrom(ctx)
	if f == nil {
		return false
	}
	f.mu.Lock()
	f.s.Actor = a
	f.mu.Unlock()
	return true
}

// SetEndpoint names the endpoint of the request ctx carries, for routers
// other than net/http's ServeMux (whose patterns the middleware reads by
// itself). It reports false when ctx carries no scope.
func SetEndpoint(ctx context.Context, endpoint string) bool {
	f := frameFrom(ctx)
	if f == nil {
		return false
	}
	f.mu.Lock()
	f.s.Endpoint = endpoint
	f.mu.Unlock()
	return true
}

// callerName names the function skip frames above its caller.
func callerName(skip int) string {
	pc, _, _, ok := runtime.Caller(skip)
	if !ok {
		return ""
	}
	fn := runtime.FuncForPC(pc)
	if fn == nil {
		return ""
	}
	return fn.Name()
}

// skipCaller reports whether a function belongs to the code between the
// application and Record: the SDK, its adapters, the ORM, database/sql and
// the runtime. The caller written for an unscoped event is the first
// function outside them.
func skipCaller(fn string) bool {
	for _, p := range skipPrefixes {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}

var skipPrefixes = []string{
	"github.com/kansa-audit/kansa/audit/", // adapters; Record itself is skipped by depth
	"gorm.io/",
	"database/sql.",
	"runtime.",
}

// resolveCaller names the first frame of pcs outside skipCaller.
func resolveCaller(pcs []uintptr) string {
	if len(pcs) == 0 {
		return ""
	}
	frames := runtime.CallersFrames(pcs)
	for {
		fr, more := frames.Next()
		if fr.Function != "" && !skipCaller(fr.Function) {
			return fr.Function
		}
		if !more {
			return ""
		}
	}
}
