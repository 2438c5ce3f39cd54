package inspect

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/task"
)

//go:embed assets
var assets embed.FS

// navItem is an entry of the navigation bar. The versions, routes and
// debugger pages (issues 10 and 12) add theirs to nav.
type navItem struct {
	Label, Href string
}

var nav = []navItem{{"Tasks", "/tasks"}, {"Versions", "/versions"}, {"Routes", "/routes"}}

// pages holds one template set per page, each the layout around the
// page's "content" (and its "live" part, refreshed in place).
type pages struct{ sets map[string]*template.Template }

var funcs = template.FuncMap{
	"path": url.PathEscape,
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05.000Z")
	},
	"f":     func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"add":   func(a, b int) int { return a + b },
	"addf":  func(a, b float64) float64 { return a + b },
	"waits": WaitSummary,
	"pct":   func(f float64) string { return strconv.FormatFloat(f*100, 'f', -1, 64) + "%" },
}

func newPages() (*pages, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "assets/layout.html", "assets/parts.html")
	if err != nil {
		return nil, err
	}
	p := &pages{sets: map[string]*template.Template{}}
	for _, name := range []string{"tasks", "task", "replay", "versions", "routes", "route", "error"} {
		t, err := template.Must(layout.Clone()).ParseFS(assets, "assets/"+name+".html")
		if err != nil {
			return nil, err
		}
		p.sets[name] = t
	}
	return p, nil
}

// page is what every page's template gets.
type page struct {
	Title, Active string
	Nav           []navItem
	CSRF          string
	Poll          int // milliseconds
	Notice, Error string
	Data          any
}

func (s *Server) routes() {
	static, _ := fs.Sub(assets, "assets")
	s.mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/tasks", http.StatusSeeOther)
	})
	s.mux.HandleFunc("GET /tasks", s.taskList)
	s.mux.HandleFunc("GET /tasks/{id}", s.taskPage)
	s.mux.HandleFunc("GET /tasks/{id}/replay", s.replayPage)
	s.mux.HandleFunc("GET /versions", s.versionsPage)
	s.mux.HandleFunc("GET /routes", s.routesPage)
	s.mux.HandleFunc("GET /routes/{function}", s.routePage)
	s.mux.HandleFunc("POST /tasks/{id}/send", s.send)
	s.mux.HandleFunc("POST /tasks/{id}/cancel", s.cancel)
	s.mux.HandleFunc("POST /tasks/{id}/migrate", s.migrate)
	// Writes are POST only; any other method gets a page that says so.
	s.mux.HandleFunc("/tasks/{id}/{action}", func(w http.ResponseWriter, r *http.Request) {
		if a := r.PathValue("action"); a == "send" || a == "cancel" || a == "migrate" {
			w.Header().Set("Allow", http.MethodPost)
			s.fail(w, r, http.StatusMethodNotAllowed, a+" takes a POST from the task page's form.")
			return
		}
		s.fail(w, r, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
	})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
	})
}

// render writes a page, or only its live part when the page's script asks
// for it (?partial=live).
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Nav, p.CSRF, p.Poll = nav, s.csrf, int(s.o.Poll/time.Millisecond)
	if p.Active == "" {
		p.Active = "Tasks"
	}
	tmpl := "layout"
	if r.URL.Query().Get("partial") == "live" && name != "error" {
		tmpl = "live"
	}
	var buf bytes.Buffer
	if err := s.pages.sets[name].ExecuteTemplate(&buf, tmpl, p); err != nil {
		s.o.Logger.Error("inspect: rendering a page", "page", name, "err", err)
		http.Error(w, "The inspector could not render this page; the error is in its log.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// fail shows an error page with a message for people: never a stack trace.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, status, "error", page{Title: http.StatusText(status), Error: msg})
}

// storeFailed shows a store error: a task that does not exist is a 404,
// anything else means the store could not answer.
func (s *Server) storeFailed(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, what+": no such task.")
		return
	}
	s.o.Logger.Error("inspect: reading the store", "what", what, "err", err)
	s.fail(w, r, http.StatusServiceUnavailable, what+": the store could not be read: "+err.Error())
}

// listView is the task list page.
type listView struct {
	F                             store.Filter
	ID, Program                   string
	From, To, Status, Wait, Order string
	Version                       string
	Page                          listing
	Statuses                      []statusCount
	Total                         int
	NextURL, FirstURL             string
	Paged                         bool // not the first page
	WaitKinds                     []string
}

type statusCount struct {
	Status string
	N      int
	URL    string
	Active bool
}

var statuses = []task.Status{task.Running, task.Waiting, task.Parked, task.Diverged, task.Done, task.Failed, task.Cancelled}

const formTime = "2006-01-02T15:04"

// The task list's query parameters: status, program, version, wait, from,
// to (creation time, UTC, formTime), q (a substring of the ID), order
// (id or updated), and the cursor: after (the last ID of the page before)
// and, ordered by update, at (its update time, RFC 3339).
func (s *Server) taskList(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	lv := &listView{ID: v.Get("q"), Program: v.Get("program"), Status: v.Get("status"), Wait: v.Get("wait"),
		From: v.Get("from"), To: v.Get("to"), Version: v.Get("version"), Order: v.Get("order"),
		WaitKinds: []string{task.WaitReceive, task.WaitSleep, task.WaitActivity, task.WaitSTM, task.WaitJoin}}
	f := store.Filter{Status: task.Status(lv.Status), Program: lv.Program, WaitKind: lv.Wait, IDContains: lv.ID, Limit: s.o.PageSize}
	bad := func(msg string) {
		s.render(w, r, http.StatusBadRequest, "tasks", page{Title: "Tasks", Error: msg, Data: lv})
	}
	if f.Status != "" && !f.Status.Known() {
		bad(fmt.Sprintf("%q is not a task status.", lv.Status))
		return
	}
	switch lv.Order {
	case "", "id":
		lv.Order = "id"
	case "updated":
		f.Order = store.ByUpdated
	default:
		bad(fmt.Sprintf("%q is not an order (id or updated).", lv.Order))
		return
	}
	if lv.Version != "" {
		n, err := strconv.Atoi(lv.Version)
		if err != nil || n < 0 {
			bad(fmt.Sprintf("Version %q is not a version number.", lv.Version))
			return
		}
		f.Version = n
	}
	for _, t := range []struct {
		in  string
		out *time.Time
	}{{lv.From, &f.CreatedAfter}, {lv.To, &f.CreatedBefore}} {
		if t.in == "" {
			continue
		}
		at, err := time.Parse(formTime, t.in)
		if err != nil {
			bad(fmt.Sprintf("%q is not a time (YYYY-MM-DDTHH:MM, UTC).", t.in))
			return
		}
		*t.out = at
	}
	if a := v.Get("after"); a != "" {
		f.After.ID = a
		if f.Order == store.ByUpdated {
			at, err := time.Parse(time.RFC3339Nano, v.Get("at"))
			if err != nil {
				bad(fmt.Sprintf("at=%q is not a time (RFC 3339).", v.Get("at")))
				return
			}
			f.After.Updated = at
		}
		lv.Paged = true
	}
	lv.F = f
	p, err := s.rm.Tasks(r.Context(), f)
	if err != nil {
		s.storeFailed(w, r, "Listing tasks", err)
		return
	}
	lv.Page = p
	link := func(set func(url.Values)) string {
		u := url.Values{}
		for k, vs := range v {
			if k != "after" && k != "at" && k != "partial" {
				u[k] = vs
			}
		}
		set(u)
		return "/tasks?" + u.Encode()
	}
	for _, st := range statuses {
		lv.Total += p.Counts[st]
		lv.Statuses = append(lv.Statuses, statusCount{Status: string(st), N: p.Counts[st], Active: f.Status == st,
			URL: link(func(u url.Values) { u.Set("status", string(st)) })})
	}
	lv.FirstURL = link(func(url.Values) {})
	if p.More {
		lv.NextURL = link(func(u url.Values) {
			u.Set("after", p.Next.ID)
			if f.Order == store.ByUpdated {
				u.Set("at", p.Next.Updated.UTC().Format(time.RFC3339Nano))
			}
		})
	}
	s.render(w, r, http.StatusOK, "tasks", page{Title: "Tasks", Data: lv})
}

func (s *Server) taskPage(w http.ResponseWriter, r *http.Request) {
	s.showTask(w, r, http.StatusOK, page{Notice: r.URL.Query().Get("notice")})
}

// showTask renders the task page with p's notice or error.
func (s *Server) showTask(w http.ResponseWriter, r *http.Request, status int, p page) {
	id := r.PathValue("id")
	p.Title = "Task " + id
	first := -1
	if j := r.URL.Query().Get("from"); j != "" {
		n, err := strconv.Atoi(j)
		if err != nil || n < 0 {
			s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("from=%q is not a journal position.", j))
			return
		}
		first = n
	}
	rec, msgs, err := s.rm.Task(r.Context(), id)
	switch {
	case errors.Is(err, task.ErrCorrupt):
		// The page still renders, with what the list knows of the task.
		tv := &taskView{ID: id, Problem: err.Error()}
		if ce := (*store.CorruptError)(nil); errors.As(err, &ce) && len(ce.Data) > 0 {
			tv.ProblemRow, tv.ProblemHex, tv.ProblemDiag = ce.Row, hexDump(ce.Data), task.Render(ce.Data)
		}
		if pg, lerr := s.rm.Tasks(r.Context(), store.Filter{IDContains: id}); lerr == nil {
			for i, sum := range pg.Tasks {
				if sum.ID == id {
					tv.Summary = &pg.Tasks[i]
					tv.Program, tv.Version, tv.Status, tv.Reason = sum.Program, sum.Version, string(sum.Status), sum.Reason
				}
			}
		}
		s.o.Logger.Warn("inspect: a task does not decode", "task", id, "err", err)
		p.Data = tv
		s.render(w, r, status, "task", p)
		return
	case err != nil:
		s.storeFailed(w, r, "Task "+id, err)
		return
	}
	p.Data = s.buildTask(rec, msgs, first, r.URL.Query().Get("axis") == "linear", s.o.Now())
	s.render(w, r, status, "task", p)
}

// formOK parses a POSTed form and checks its CSRF token.
func (s *Server) formOK(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "The form could not be read: "+err.Error())
		return false
	}
	if !s.csrfOK(r) {
		s.fail(w, r, http.StatusForbidden, "The form's token is missing or stale: reload the page and try again.")
		return false
	}
	return true
}

func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	if !s.formOK(w, r) {
		return
	}
	id, typ := r.PathValue("id"), strings.TrimSpace(r.PostFormValue("type"))
	bad := func(status int, err error) {
		s.showTask(w, r, status, page{Error: "Not sent: " + err.Error()})
	}
	if typ == "" {
		bad(http.StatusBadRequest, errors.New("no message type"))
		return
	}
	body := r.PostFormValue("json")
	if r.PostFormValue("mode") == "typed" {
		t, ok := s.reg.MessageType(typ)
		if !ok {
			bad(http.StatusBadRequest, fmt.Errorf("message type %q is not registered", typ))
			return
		}
		var err error
		if body, err = formJSON(t, r.PostFormValue); err != nil {
			bad(http.StatusBadRequest, err)
			return
		}
	}
	msg, err := DecodeMessageJSON(s.reg, typ, body)
	if err != nil {
		bad(http.StatusBadRequest, err)
		return
	}
	env, err := s.reg.EncodeMessage(msg)
	if err != nil {
		bad(http.StatusBadRequest, err)
		return
	}
	if err := s.o.Store.Send(r.Context(), id, env); err != nil {
		status := http.StatusServiceUnavailable
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrFinished) {
			status = http.StatusConflict
		}
		bad(status, err)
		return
	}
	s.done(w, r, id, "Sent "+env.String()+".")
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	if !s.formOK(w, r) {
		return
	}
	id := r.PathValue("id")
	if err := s.o.Store.Cancel(r.Context(), id); err != nil {
		status := http.StatusServiceUnavailable
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrFinished) {
			status = http.StatusConflict
		}
		s.showTask(w, r, status, page{Error: "Not cancelled: " + err.Error()})
		return
	}
	s.done(w, r, id, "Asked the task to cancel; its worker ends it when it next claims it.")
}

// migrate moves a task to another version of its program, if its journal
// proves the move safe (interp.Migrator: checked, then checked again under
// the task's lease).
func (s *Server) migrate(w http.ResponseWriter, r *http.Request) {
	if !s.formOK(w, r) {
		return
	}
	id := r.PathValue("id")
	to, err := strconv.Atoi(r.PostFormValue("to"))
	if err != nil || to <= 0 {
		s.showTask(w, r, http.StatusBadRequest, page{Error: "Not migrated: choose the version to move the task to."})
		return
	}
	mv, err := interp.NewMigrator(s.o.Store, s.reg, interp.MigratorOptions{}).MigrateTask(r.Context(), id, to)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.showTask(w, r, http.StatusNotFound, page{})
	case err != nil:
		s.showTask(w, r, http.StatusBadRequest, page{Error: "Not migrated: " + err.Error()})
	case mv.Err != nil:
		s.showTask(w, r, http.StatusConflict, page{Error: fmt.Sprintf("Not migrated: the task could not be checked against version %d: %v", to, mv.Err)})
	case !mv.Fits:
		s.showTask(w, r, http.StatusConflict, page{Error: fmt.Sprintf("Not migrated: version %d does not fit this task's journal: %v", to, mv.Divergence)})
	case !mv.Moved:
		s.showTask(w, r, http.StatusConflict, page{Error: "Not migrated: " + mv.Skipped + "."})
	default:
		s.done(w, r, id, fmt.Sprintf("Migrated to version %d: its journal replays cleanly under it.", to))
	}
}

// done redirects to the task page after a successful action (so that a
// reload does not send twice), with a notice.
func (s *Server) done(w http.ResponseWriter, r *http.Request, id, notice string) {
	http.Redirect(w, r, "/tasks/"+url.PathEscape(id)+"?"+url.Values{"notice": {notice}}.Encode(), http.StatusSeeOther)
}
