// Package effect is a stand-in for amber's effect package: the names the
// analyzer looks for.
package effect

type Unit = struct{}

type Eff[A any] struct{ v A }

type Ctx struct{}

type Program[I, O any] struct{ Body func(I) Eff[O] }

type Handler struct{}

func Do[A any](body func(e *Ctx) A) Eff[A] { return Eff[A]{} }

func NewProgram[I, O any](name string, version int, body func(I) Eff[O]) *Program[I, O] {
	return &Program[I, O]{Body: body}
}

func Then[A, B any](m Eff[A], k func(A) Eff[B]) Eff[B] { return Eff[B]{} }

func Pure[A any](v A) Eff[A] { return Eff[A]{v} }

func Now() Eff[int64] { return Eff[int64]{} }

// Handle is not a program: handlers do I/O.
func Handle[O, R any](fn func(O) (R, error)) Handler { return Handler{} }
