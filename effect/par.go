package effect

import "errors"

// Par runs the programs as concurrent fibers of one task and yields their
// results in argument order. Fibers are scheduled deterministically: each
// runs, in order, until it waits on an op, and ops complete in the order the
// interpreter chooses and journals, so a replay is exact. If one branch
// fails, the others are cancelled and Par fails with that error.
func Par[A any](ps ...Eff[A]) Eff[[]A] {
	nodes := make([]node, len(ps))
	for i, p := range ps {
		nodes[i] = orNil(p.n)
	}
	return Eff[[]A]{&parNode[A]{nodes}}
}

type parNode[A any] struct{ ps []node }

func (n *parNode[A]) step(m *Machine, f *fiber, _ node) node {
	results := make([]A, len(n.ps))
	if len(n.ps) == 0 {
		return deliver(m, f, results)
	}
	st := &joinState{parent: f, remaining: len(n.ps)}
	st.complete = func() node { return &pure[[]A]{results} }
	f.push(st)
	for i, p := range n.ps {
		st.start(m, p, newJoinFrame(st, &results[i]))
	}
	return nil
}

// Pair holds the results of Par2.
type Pair[A, B any] struct {
	// First is the result of Par2's first program.
	First A
	// Second is the result of Par2's second program.
	Second B
}

// Par2 runs a and b as concurrent fibers, like Par for two programs of
// different types.
func Par2[A, B any](a Eff[A], b Eff[B]) Eff[Pair[A, B]] {
	return Eff[Pair[A, B]]{&par2Node[A, B]{orNil(a.n), orNil(b.n)}}
}

type par2Node[A, B any] struct{ a, b node }

func (n *par2Node[A, B]) step(m *Machine, f *fiber, _ node) node {
	var r Pair[A, B]
	st := &joinState{parent: f, remaining: 2}
	st.complete = func() node { return &pure[Pair[A, B]]{r} }
	f.push(st)
	st.start(m, n.a, newJoinFrame(st, &r.First))
	st.start(m, n.b, newJoinFrame(st, &r.Second))
	return nil
}

// joinState is the frame a parent fiber waits in while its children run.
// Values and failures pass through it; it only matters on cancellation.
type joinState struct {
	parent    *fiber
	children  []*fiber
	remaining int
	finished  bool
	race      bool
	complete  func() node
}

func (st *joinState) start(m *Machine, p node, bottom any) {
	c := m.newFiber()
	c.push(bottom)
	st.children = append(st.children, c)
	m.schedule(c, p)
}

func (st *joinState) close(m *Machine) {
	st.finished = true
	for _, c := range st.children {
		m.cancelFiber(c)
	}
}

// childDone records a child's success; for a race the first one wins.
func (st *joinState) childDone(m *Machine, f *fiber, win func() node) {
	f.done = true
	if st.finished {
		return
	}
	if st.race {
		st.end(m, f, win())
		return
	}
	st.remaining--
	if st.remaining == 0 {
		st.finished = true
		m.schedule(st.parent, st.complete())
	}
}

func (st *joinState) childFailed(m *Machine, f *fiber, err error) {
	f.done = true
	if st.finished {
		return
	}
	st.end(m, f, &failNode{err})
}

func (st *joinState) end(m *Machine, winner *fiber, n node) {
	st.finished = true
	for _, c := range st.children {
		if c != winner {
			m.cancelFiber(c)
		}
	}
	m.schedule(st.parent, n)
}

// joinFrame is the bottom frame of a Par branch's fiber.
type joinFrame[A any] struct {
	box  contBox[A]
	st   *joinState
	slot *A
}

func newJoinFrame[A any](st *joinState, slot *A) *contBox[A] {
	j := &joinFrame[A]{st: st, slot: slot}
	j.box.c = j
	return &j.box
}

func (j *joinFrame[A]) resume(m *Machine, f *fiber, v A) node {
	*j.slot = v
	j.st.childDone(m, f, nil)
	return nil
}

func (j *joinFrame[A]) catch(m *Machine, f *fiber, err error) node {
	j.st.childFailed(m, f, err)
	return nil
}

// Race runs the programs as concurrent fibers and yields the outcome of the
// first to finish, success or failure; the others are cancelled (their
// pending ops are withdrawn and never complete). Which branch finishes
// first is decided by the order in which the interpreter completes their
// ops, and that order is journaled, so a replay picks the same winner.
func Race[A any](ps ...Eff[A]) Eff[A] {
	if len(ps) == 0 {
		return Fail[A](ErrEmptyRace)
	}
	nodes := make([]node, len(ps))
	for i, p := range ps {
		nodes[i] = orNil(p.n)
	}
	return Eff[A]{&raceNode[A]{nodes}}
}

// ErrEmptyRace is the failure of Race with no branches.
var ErrEmptyRace = errors.New("effect: Race of no programs")

type raceNode[A any] struct{ ps []node }

func (n *raceNode[A]) step(m *Machine, f *fiber, _ node) node {
	st := &joinState{parent: f, remaining: len(n.ps), race: true}
	f.push(st)
	for _, p := range n.ps {
		st.start(m, p, newRaceFrame[A](st))
	}
	return nil
}

// raceFrame is the bottom frame of a Race branch's fiber.
type raceFrame[A any] struct {
	box contBox[A]
	st  *joinState
}

func newRaceFrame[A any](st *joinState) *contBox[A] {
	r := &raceFrame[A]{st: st}
	r.box.c = r
	return &r.box
}

func (r *raceFrame[A]) resume(m *Machine, f *fiber, v A) node {
	r.st.childDone(m, f, func() node { return &pure[A]{v} })
	return nil
}

func (r *raceFrame[A]) catch(m *Machine, f *fiber, err error) node {
	r.st.childFailed(m, f, err)
	return nil
}
