package inspect

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

// DefaultAddr is where the inspector listens unless told otherwise: the
// loopback interface only, on a fixed port.
const DefaultAddr = "127.0.0.1:7700"

// Options configure a Server.
type Options struct {
	// Store is the store the inspector reads, and sends messages and
	// cancellations to. Required.
	Store store.Store
	// Registry decodes messages and builds the typed send form; nil means
	// task.NewRegistry() (built-in types only).
	Registry *task.Registry
	// Token, if not empty, must come with every request: as the header
	// "Authorization: Bearer TOKEN", as the cookie the inspector sets when
	// a page is opened with ?token=TOKEN, or as that query parameter. An
	// inspector on an address other than loopback must have one (CheckAddr).
	Token string
	// Versions and Routes feed the versions and routes pages; nil means
	// the store's own (Store.Versions and Changes; a store.RouteStore's
	// routes), and otherwise pages that say the data is not available.
	Versions VersionSource
	Routes   RouteSource
	// Poll is how often open pages refresh their live parts; 0 means 2s.
	Poll time.Duration
	// PageSize is the number of tasks per list page (0 means 50) and
	// JournalPage the number of journal entries per task page (0 means 200).
	PageSize, JournalPage int
	// Logger receives the errors the pages show (nil: slog.Default()).
	Logger *slog.Logger
	// Now is the clock for "in 5s" and the timeline's present; nil means
	// time.Now.
	Now func() time.Time
}

// Server is the inspector: an http.Handler that serves the pages.
type Server struct {
	o     Options
	rm    readModel
	reg   *task.Registry
	csrf  string // the form token of this process
	mux   *http.ServeMux
	h     http.Handler
	pages *pages
}

// ErrNeedToken is the error of CheckAddr for a non-loopback address
// without a token.
var ErrNeedToken = errors.New("inspect: an address other than loopback needs a token (--token or AMBER_TOKEN)")

// CheckAddr refuses an address that is not on the loopback interface
// when there is no token: the inspector shows inputs and messages, and
// sends messages and cancellations.
func CheckAddr(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("inspect: address %q: %w", addr, err)
	}
	if token == "" && !loopbackHost(host) {
		return fmt.Errorf("%w: %s", ErrNeedToken, addr)
	}
	return nil
}

// loopbackHost reports whether host (no port) names the loopback
// interface. An empty host means every interface.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}

// New returns an inspector over o.Store.
func New(o Options) (*Server, error) {
	if o.Store == nil {
		return nil, errors.New("inspect: no store")
	}
	if o.Registry == nil {
		o.Registry = task.NewRegistry()
	}
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	if o.PageSize <= 0 {
		o.PageSize = 50
	}
	if o.JournalPage <= 0 {
		o.JournalPage = 200
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Versions == nil {
		o.Versions = storeVersions{o.Store}
	}
	if rs, ok := o.Store.(store.RouteStore); ok && o.Routes == nil {
		o.Routes = storeRoutes{rs}
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	pg, err := newPages()
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, rm: storeReader{o.Store}, reg: o.Registry, csrf: hex.EncodeToString(b[:]), mux: http.NewServeMux(), pages: pg}
	s.routes()
	// Cross-origin writes are refused by the browser's own headers
	// (Sec-Fetch-Site, Origin) before any form token is looked at.
	s.h = s.guard(http.NewCrossOriginProtection().Handler(s.mux))
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.h.ServeHTTP(w, r) }

// Serve serves the inspector on ln until ctx is done, then shuts down
// (letting requests in flight finish for up to 5 s).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

const tokenCookie = "amber_token"

// guard checks the token (or, without one, that the request is addressed
// to a loopback host: a page on another site that rebinds its DNS name to
// 127.0.0.1 must not read the inspector), sets the security headers, and
// turns a panic into an error page.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.o.Logger.Error("inspect: panic", "path", r.URL.Path, "panic", p)
				s.fail(w, r, http.StatusInternalServerError, "The inspector failed on this request; the error is in its log.")
			}
		}()
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if s.o.Token == "" {
			host, _, err := net.SplitHostPort(r.Host)
			if err != nil {
				host = r.Host
			}
			if !loopbackHost(host) {
				s.fail(w, r, http.StatusForbidden, "This inspector answers only requests addressed to localhost.")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if q := r.URL.Query().Get("token"); q != "" && r.Method == http.MethodGet && s.tokenOK(q) {
			http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: q, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			u := *r.URL
			v := u.Query()
			v.Del("token")
			u.RawQuery = v.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if c, err := r.Cookie(tokenCookie); got == "" && err == nil {
			got = c.Value
		}
		if !s.tokenOK(got) {
			h.Set("WWW-Authenticate", `Bearer realm="amber"`)
			s.fail(w, r, http.StatusUnauthorized, "This inspector needs its token: open it with ?token=TOKEN, or send the header Authorization: Bearer TOKEN.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) tokenOK(got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.o.Token)) == 1
}

// csrfOK checks a form's token; the cross-origin check has already run.
func (s *Server) csrfOK(r *http.Request) bool {
	return subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) == 1
}
