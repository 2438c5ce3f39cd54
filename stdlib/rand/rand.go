// Package rand gives programs random numbers and UUIDs that a replay
// reproduces: every random bit is drawn through the effect.Random op, so
// it is recorded in the task's journal and fed back on replay and after a
// crash. A program never calls math/rand, crypto/rand or uuid.New (amber
// vet says so); it calls these.
//
// # Direct style
//
//	id := rand.UUIDv7(e)         // time-ordered: the effect.Now op and two draws
//	n := rand.IntN(e, 6) + 1     // one draw
//	r := rand.New(e)             // one draw seeds a generator for a whole loop
//	r.Shuffle(len(xs), func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
//
// # Tree style
//
// NewUUIDv4, NewUUIDv7, Draw and Source are the same as programs.
//
// # Caveats
//
// The bits come from the interpreter: real randomness under Live and
// Durable, a seeded generator under the Mock and the Sim (interp.WithSeed),
// so a test sees the same UUIDs on every run. They are not a secret: they
// are stored in the journal in the clear. Do not use them for keys or
// tokens; draw those in an activity and store only what may be stored.
package rand

import (
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"github.com/amberrt/amber/effect"
)

// UUID is an RFC 9562 UUID. It is a [16]byte, so it converts to and from
// other UUID types (github.com/google/uuid.UUID(u)). It is stored as a
// CBOR byte string and renders in JSON as its text form.
type UUID [16]byte

// String returns the text form, such as
// "0191f6d5-8a3c-7b2e-9f4d-1c2b3a4d5e6f".
func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// Version is the UUID's version number (4 or 7 for the ones made here).
func (u UUID) Version() int { return int(u[6] >> 4) }

// ErrBadUUID is matched by the error of ParseUUID.
var ErrBadUUID = errors.New("rand: malformed UUID")

// ParseUUID parses the text form of a UUID (hyphens at 8, 13, 18, 23;
// case-insensitive hex).
func ParseUUID(s string) (UUID, error) {
	var u UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("%w: %q", ErrBadUUID, s)
	}
	digits := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if _, err := hex.Decode(u[:], []byte(digits)); err != nil {
		return UUID{}, fmt.Errorf("%w: %q", ErrBadUUID, s)
	}
	return u, nil
}

// MarshalText returns the text form, for JSON.
func (u UUID) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// UnmarshalText parses the text form.
func (u *UUID) UnmarshalText(b []byte) error {
	v, err := ParseUUID(string(b))
	if err != nil {
		return err
	}
	*u = v
	return nil
}

// v4 builds a version 4 UUID from 128 random bits.
func v4(hi, lo uint64) UUID {
	var u UUID
	put(u[0:8], hi)
	put(u[8:16], lo)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// v7 turns the random UUID u into a version 7 one: 48 bits of Unix
// milliseconds, then random bits.
func v7(t time.Time, u UUID) UUID {
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = u[6]&0x0f | 0x70
	return u
}

func put(b []byte, x uint64) {
	for i := range 8 {
		b[i] = byte(x >> (56 - 8*i))
	}
}

// NewUUIDv4 is a random (version 4) UUID: two Random ops.
func NewUUIDv4() effect.Eff[UUID] {
	return effect.Then(effect.Random(), func(hi uint64) effect.Eff[UUID] {
		return effect.Map(effect.Random(), func(lo uint64) UUID { return v4(hi, lo) })
	})
}

// NewUUIDv7 is a time-ordered (version 7) UUID: a Now op and two Random
// ops. UUIDs made in the same millisecond are not ordered among
// themselves.
func NewUUIDv7() effect.Eff[UUID] {
	return effect.Then(effect.Now(), func(t time.Time) effect.Eff[UUID] {
		return effect.Map(NewUUIDv4(), func(u UUID) UUID { return v7(t, u) })
	})
}

// Source is a math/rand/v2 generator seeded by one Random op: a program
// that needs many random numbers (a shuffle, a simulation) journals one
// draw, not one per number. The generator is the program's own: a replay
// seeds it the same, and it must not be shared with other tasks.
func Source() effect.Eff[*mrand.Rand] {
	return effect.Map(effect.Random(), seeded)
}

func seeded(seed uint64) *mrand.Rand {
	return mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// Draw is a value made from a generator seeded by one Random op:
//
//	rand.Draw(func(r *mrand.Rand) int { return r.IntN(6) + 1 })
func Draw[A any](f func(r *mrand.Rand) A) effect.Eff[A] {
	return effect.Map(effect.Random(), func(seed uint64) A { return f(seeded(seed)) })
}

// UUIDv4 returns a random (version 4) UUID; see NewUUIDv4.
func UUIDv4(e *effect.Ctx) UUID { return v4(e.Random(), e.Random()) }

// UUIDv7 returns a time-ordered (version 7) UUID; see NewUUIDv7.
func UUIDv7(e *effect.Ctx) UUID {
	t := e.Now()
	return v7(t, UUIDv4(e))
}

// New returns a generator seeded by one Random op; see Source.
func New(e *effect.Ctx) *mrand.Rand { return seeded(e.Random()) }

// IntN returns a uniform int in [0, n) from one Random op. It fails the
// program if n <= 0.
func IntN(e *effect.Ctx, n int) int {
	if n <= 0 {
		effect.Must(e, 0, fmt.Errorf("rand: IntN(%d): n must be positive", n))
	}
	return New(e).IntN(n)
}

// Float64 returns a uniform float64 in [0, 1) from one Random op.
func Float64(e *effect.Ctx) float64 { return New(e).Float64() }
