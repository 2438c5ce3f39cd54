package vet

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"slices"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/types/typeutil"
)

const effectPath = "github.com/amberrt/amber/effect"

// Analyzer finds what breaks replay in program bodies. See the package
// doc for the rules.
var Analyzer = &analysis.Analyzer{
	Name:      "amber",
	Doc:       "report what breaks replay in amber program bodies (the clock, randomness, goroutines, channels, select, map order, changing globals, I/O, UUIDs)",
	URL:       "https://pkg.go.dev/github.com/amberrt/amber/vet",
	Run:       run,
	FactTypes: []analysis.Fact{(*reaches)(nil), (*mutable)(nil)},
}

// skipStd is false only in tests that run the analysis over the standard
// library as if it were a module's code.
var skipStd = true

// Finding is one thing a function does, or reaches through the functions
// it calls, that breaks replay.
type Finding struct {
	// Rule names the rule broken (time, rand, go, ...).
	Rule string
	What string   // the call or statement, such as "time.Now"
	Via  []string // the functions called on the way, outermost first
	At   string   // file:line of the call or statement
}

// reaches is the fact of a function: what it reaches, one finding per
// rule.
type reaches struct{ Findings []Finding }

func (*reaches) AFact() {}

func (r *reaches) String() string {
	var parts []string
	for _, f := range r.Findings {
		parts = append(parts, f.Rule+":"+f.What)
	}
	return "reaches " + strings.Join(parts, ", ")
}

// mutable is the fact of a package-level variable that is written after
// its initialisation.
type mutable struct{}

func (*mutable) AFact() {}

func (*mutable) String() string { return "mutable" }

// checker holds one package's analysis.
type checker struct {
	pass    *analysis.Pass
	ignores map[string]map[int][]string // file name -> line -> rules silenced
	mutable map[*types.Var]bool
	decls   map[*types.Func]*ast.FuncDecl
	summary map[*types.Func][]Finding
	busy    map[*types.Func]bool
	done    map[token.Pos]map[string]bool // reported positions and rules
}

func run(pass *analysis.Pass) (res any, err error) {
	// A bug here must not take down the caller (go vet, amber vet):
	// report it as the package's error instead.
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("amber vet: internal error on package %s: %v", pass.Pkg.Path(), p)
		}
	}()
	if skipStd && isStd(pass.Pkg.Path()) {
		return nil, nil // the standard library has no programs; the rules name its calls
	}
	c := &checker{
		pass:    pass,
		ignores: map[string]map[int][]string{},
		mutable: map[*types.Var]bool{},
		decls:   map[*types.Func]*ast.FuncDecl{},
		summary: map[*types.Func][]Finding{},
		busy:    map[*types.Func]bool{},
		done:    map[token.Pos]map[string]bool{},
	}
	c.readIgnores()
	c.findMutable()
	for _, f := range pass.Files {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Body != nil {
				if fn, ok := pass.TypesInfo.Defs[fd.Name].(*types.Func); ok {
					c.decls[fn] = fd
				}
			}
		}
	}
	for fn := range c.decls {
		if fs := c.reach(fn); len(fs) > 0 {
			pass.ExportObjectFact(fn, &reaches{Findings: fs})
		}
	}
	for _, f := range pass.Files {
		c.findPrograms(f)
	}
	return nil, nil
}

// readIgnores collects the //amber:ignore comments.
func (c *checker) readIgnores() {
	for _, f := range c.pass.Files {
		for _, cg := range f.Comments {
			for _, cm := range cg.List {
				text, ok := strings.CutPrefix(cm.Text, "//amber:ignore")
				if !ok {
					continue
				}
				fields := strings.Fields(text)
				if len(fields) == 0 || !slices.Contains(Rules, fields[0]) {
					c.pass.Report(analysis.Diagnostic{Pos: cm.Pos(), Message: fmt.Sprintf("//amber:ignore needs a rule (one of %s) and a reason", strings.Join(Rules, ", "))})
					continue
				}
				p := c.pass.Fset.Position(cm.Pos())
				lines := c.ignores[p.Filename]
				if lines == nil {
					lines = map[int][]string{}
					c.ignores[p.Filename] = lines
				}
				lines[p.Line] = append(lines[p.Line], fields[0])
			}
		}
	}
}

// ignored reports whether an //amber:ignore for rule is on the line of
// pos or the line above.
func (c *checker) ignored(pos token.Pos, rule string) bool {
	p := c.pass.Fset.Position(pos)
	lines := c.ignores[p.Filename]
	return slices.Contains(lines[p.Line], rule) || slices.Contains(lines[p.Line-1], rule)
}

// findMutable marks the package's variables that are written outside
// their declaration and init functions.
func (c *checker) findMutable() {
	info := c.pass.TypesInfo
	mark := func(e ast.Expr) {
		if v := c.rootVar(e); v != nil && v.Pkg() == c.pass.Pkg {
			c.mutable[v] = true
		}
	}
	for _, f := range c.pass.Files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil || fd.Name.Name == "init" && fd.Recv == nil {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.AssignStmt:
					if n.Tok != token.DEFINE {
						for _, l := range n.Lhs {
							mark(l)
						}
					}
				case *ast.IncDecStmt:
					mark(n.X)
				case *ast.UnaryExpr:
					if n.Op == token.AND {
						mark(n.X)
					}
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
						if s := info.Selections[sel]; s != nil && s.Kind() == types.MethodVal && pointerRecv(s.Obj()) && !isPointer(info.TypeOf(sel.X)) {
							mark(sel.X)
						}
					}
				}
				return true
			})
		}
	}
	for v := range c.mutable {
		c.pass.ExportObjectFact(v, &mutable{})
	}
}

func pointerRecv(obj types.Object) bool {
	sig, ok := obj.Type().(*types.Signature)
	return ok && sig.Recv() != nil && isPointer(sig.Recv().Type())
}

func isPointer(t types.Type) bool {
	if t == nil {
		return false
	}
	_, ok := t.Underlying().(*types.Pointer)
	return ok
}

// rootVar returns the package-level variable at the root of e (x in x,
// x.f, x[i], *x), if there is one.
func (c *checker) rootVar(e ast.Expr) *types.Var {
	for {
		switch x := e.(type) {
		case *ast.Ident:
			v, _ := c.pass.TypesInfo.Uses[x].(*types.Var)
			if v != nil && !v.IsField() && v.Pkg() != nil && v.Parent() == v.Pkg().Scope() {
				return v
			}
			return nil
		case *ast.SelectorExpr:
			if id, ok := x.X.(*ast.Ident); ok {
				if _, isPkg := c.pass.TypesInfo.Uses[id].(*types.PkgName); isPkg {
					e = x.Sel // a variable of another package
					continue
				}
			}
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.StarExpr:
			e = x.X
		case *ast.ParenExpr:
			e = x.X
		default:
			return nil
		}
	}
}

// isMutable reports whether reading v may see a value that changes.
func (c *checker) isMutable(v *types.Var) bool {
	if v.Pkg() == c.pass.Pkg {
		return c.mutable[v]
	}
	if v.Pkg() == nil || isStd(v.Pkg().Path()) || runtime(v.Pkg().Path()) {
		return false
	}
	return c.pass.ImportObjectFact(v, new(mutable))
}

// local is a finding in a body, before it is reported or summarised.
type local struct {
	pos  token.Pos
	rule string
	what string
}

// call is a call in a body to a function that may reach something.
type call struct {
	pos token.Pos
	fn  *types.Func
}

// scan finds, in body, what breaks replay directly and the calls to
// functions that may reach something. Findings silenced by
// //amber:ignore are left out.
func (c *checker) scan(body ast.Node) (finds []local, calls []call) {
	info := c.pass.TypesInfo
	writes := map[*ast.Ident]bool{}
	add := func(pos token.Pos, rule, what string) {
		if !c.ignored(pos, rule) {
			finds = append(finds, local{pos, rule, what})
		}
	}
	write := func(e ast.Expr) {
		if v := c.rootVar(e); v != nil {
			add(e.Pos(), RuleGlobal, "writing "+varName(v))
			ast.Inspect(e, func(n ast.Node) bool {
				if id, ok := n.(*ast.Ident); ok && info.Uses[id] == v {
					writes[id] = true
				}
				return true
			})
		}
	}
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			add(n.Pos(), RuleGo, "a go statement")
		case *ast.SelectStmt:
			add(n.Pos(), RuleSelect, "a select statement")
		case *ast.SendStmt:
			add(n.Pos(), RuleChan, "a channel send")
		case *ast.UnaryExpr:
			switch n.Op {
			case token.ARROW:
				add(n.Pos(), RuleChan, "a channel receive")
			case token.AND:
				write(n.X)
			}
		case *ast.RangeStmt:
			switch info.TypeOf(n.X).Underlying().(type) {
			case *types.Map:
				add(n.Pos(), RuleMapRange, "ranging over a map")
			case *types.Chan:
				add(n.Pos(), RuleChan, "ranging over a channel")
			}
		case *ast.AssignStmt:
			if n.Tok != token.DEFINE {
				for _, l := range n.Lhs {
					write(l)
				}
			}
		case *ast.IncDecStmt:
			write(n.X)
		case *ast.Ident:
			if writes[n] {
				break
			}
			if v, ok := info.Uses[n].(*types.Var); ok && !v.IsField() && v.Pkg() != nil && v.Parent() == v.Pkg().Scope() && c.isMutable(v) {
				add(n.Pos(), RuleGlobal, "reading "+varName(v)+" (written elsewhere)")
			}
		case *ast.CallExpr:
			fn, _ := typeutil.Callee(info, n).(*types.Func)
			if fn == nil {
				break
			}
			if rule, what := forbidden(fn); rule != "" {
				add(n.Pos(), rule, what)
				break
			}
			if fn.Pkg() != nil && (fn.Pkg().Path() == "maps" && slices.Contains([]string{"Keys", "Values", "All"}, fn.Name()) ||
				fn.Pkg().Path() == "github.com/samber/lo" && slices.Contains([]string{"Keys", "Values", "Entries", "ToPairs", "MapToSlice"}, fn.Name())) {
				add(n.Pos(), RuleMapRange, fn.Pkg().Name()+"."+fn.Name()+" (in map order)")
				break
			}
			if static := typeutil.StaticCallee(info, n); static != nil {
				calls = append(calls, call{n.Pos(), static.Origin()})
			}
		}
		return true
	})
	return finds, calls
}

func varName(v *types.Var) string { return v.Pkg().Name() + "." + v.Name() }

func funcName(fn *types.Func) string {
	name := fn.Name()
	if sig, ok := fn.Type().(*types.Signature); ok && sig.Recv() != nil {
		t := sig.Recv().Type()
		if p, ok := t.(*types.Pointer); ok {
			t = p.Elem()
		}
		if n, ok := t.(*types.Named); ok {
			name = n.Obj().Name() + "." + name
		}
	}
	if fn.Pkg() != nil {
		name = fn.Pkg().Name() + "." + name
	}
	return name
}

// reach returns what fn reaches, one finding per rule: its own findings
// first, then those of the functions it calls.
func (c *checker) reach(fn *types.Func) []Finding {
	fn = fn.Origin()
	if fs, ok := c.summary[fn]; ok {
		return fs
	}
	decl, ok := c.decls[fn]
	if !ok {
		return c.imported(fn)
	}
	if c.busy[fn] {
		return nil // recursion: the findings are those of the outer call
	}
	c.busy[fn] = true
	defer delete(c.busy, fn)
	finds, calls := c.scan(decl.Body)
	var out []Finding
	has := map[string]bool{}
	for _, f := range finds {
		if !has[f.rule] {
			has[f.rule] = true
			out = append(out, Finding{Rule: f.rule, What: f.what, At: c.at(f.pos)})
		}
	}
	for _, cl := range calls {
		for _, f := range c.reach(cl.fn) {
			if has[f.Rule] || c.ignored(cl.pos, f.Rule) {
				continue
			}
			has[f.Rule] = true
			f.Via = append([]string{funcName(cl.fn)}, f.Via...)
			out = append(out, f)
		}
	}
	c.summary[fn] = out
	return out
}

// imported returns the findings of a function of another package of the
// module, from its fact.
func (c *checker) imported(fn *types.Func) []Finding {
	if fn.Pkg() == nil || fn.Pkg() == c.pass.Pkg || isStd(fn.Pkg().Path()) || runtime(fn.Pkg().Path()) || !c.sameModule(fn.Pkg().Path()) {
		return nil
	}
	var r reaches
	if !c.pass.ImportObjectFact(fn, &r) {
		return nil
	}
	return r.Findings
}

// sameModule reports whether path is in the module of the package being
// analysed (when the driver does not say, any package that is not
// standard).
func (c *checker) sameModule(path string) bool {
	m := c.pass.Module
	if m == nil || m.Path == "" {
		return true
	}
	return path == m.Path || strings.HasPrefix(path, m.Path+"/")
}

// runtime reports whether path is one of amber's own packages (but its
// examples): the runtime that programs are made to call, whose insides
// (the stm's clock, the sorting in coll.Keys) are not the program's.
func runtime(path string) bool {
	const module = "github.com/amberrt/amber"
	rest, ok := strings.CutPrefix(path, module)
	return ok && (rest == "" || strings.HasPrefix(rest, "/") && !strings.HasPrefix(rest, "/examples/"))
}

func (c *checker) at(pos token.Pos) string {
	p := c.pass.Fset.Position(pos)
	return fmt.Sprintf("%s:%d", shortFile(p.Filename), p.Line)
}

func shortFile(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		return name[i+1:]
	}
	return name
}

// findPrograms reports what breaks replay in the program bodies of f: the
// functions passed to a function that returns an effect.Eff or an
// *effect.Program (effect.Do, effect.NewProgram, effect.Then, coll.ParMap,
// ...), and the functions that themselves return one (they build
// programs, and run when the program does: a supervisor's child spec, a
// helper that makes a step).
func (c *checker) findPrograms(f *ast.File) {
	info := c.pass.TypesInfo
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncDecl:
			if n.Body != nil && c.buildsProgram(info.TypeOf(n.Name)) && !runtime(c.pass.Pkg.Path()) {
				c.checkBody(n.Body, funcName(info.Defs[n.Name].(*types.Func))+", which builds a program,")
			}
		case *ast.FuncLit:
			if c.buildsProgram(info.TypeOf(n)) {
				c.checkBody(n.Body, "a function that builds a program")
			}
		case *ast.CallExpr:
			if !c.buildsProgram(info.TypeOf(n.Fun)) {
				return true
			}
			to := "a program"
			if fn, ok := typeutil.Callee(info, n).(*types.Func); ok {
				to = funcName(fn)
			}
			where := "the program body passed to " + to
			for _, arg := range n.Args {
				switch a := ast.Unparen(arg).(type) {
				case *ast.FuncLit:
					c.checkBody(a.Body, where)
				case *ast.Ident, *ast.SelectorExpr:
					if fn, ok := info.Uses[identOf(a)].(*types.Func); ok {
						for _, fd := range c.reach(fn) {
							fd.Via = append([]string{funcName(fn.Origin())}, fd.Via...)
							c.report(a.Pos(), fd, where)
						}
					}
				}
			}
		}
		return true
	})
}

func identOf(e ast.Expr) *ast.Ident {
	switch x := e.(type) {
	case *ast.Ident:
		return x
	case *ast.SelectorExpr:
		return x.Sel
	}
	return nil
}

// buildsProgram reports whether t is the type of a function whose result
// is an effect.Eff or an *effect.Program.
func (c *checker) buildsProgram(t types.Type) bool {
	sig, ok := t.(*types.Signature)
	if !ok || sig.Results().Len() == 0 {
		return false
	}
	r := sig.Results().At(0).Type()
	if p, ok := r.(*types.Pointer); ok {
		r = p.Elem()
	}
	n, ok := r.(*types.Named)
	if !ok || n.Obj().Pkg() == nil || n.Obj().Pkg().Path() != effectPath {
		return false
	}
	return n.Obj().Name() == "Eff" || n.Obj().Name() == "Program"
}

// checkBody reports the findings of a program body, and of the functions
// it calls; where names the body in the messages.
func (c *checker) checkBody(body *ast.BlockStmt, where string) {
	finds, calls := c.scan(body)
	for _, f := range finds {
		c.report(f.pos, Finding{Rule: f.rule, What: f.what, At: c.at(f.pos)}, where)
	}
	for _, cl := range calls {
		for _, fd := range c.reach(cl.fn) {
			if c.ignored(cl.pos, fd.Rule) {
				continue
			}
			fd.Via = append([]string{funcName(cl.fn)}, fd.Via...)
			c.report(cl.pos, fd, where)
		}
	}
}

// report reports a finding at pos once.
func (c *checker) report(pos token.Pos, f Finding, where string) {
	if c.done[pos] == nil {
		c.done[pos] = map[string]bool{}
	}
	if c.done[pos][f.Rule] {
		return
	}
	c.done[pos][f.Rule] = true
	var msg string
	if len(f.Via) == 0 {
		msg = fmt.Sprintf("%s in %s breaks replay [%s]: %s", f.What, where, f.Rule, advice[f.Rule])
	} else {
		msg = fmt.Sprintf("%s calls %s → %s (%s), which breaks replay [%s]: %s", where, strings.Join(f.Via, " → "), f.What, f.At, f.Rule, advice[f.Rule])
	}
	c.pass.Report(analysis.Diagnostic{Pos: pos, Category: f.Rule, Message: msg})
}
