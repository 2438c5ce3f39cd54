package stm_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amberrt/amber/stm"
)

func TestGetSetLoadStore(t *testing.T) {
	a, b := stm.NewVar(1), stm.NewVar("x")
	assert.Equal(t, 1, a.Load())
	assert.Equal(t, "", a.Name())
	assert.NotEqual(t, a.ID(), b.ID())

	got, err := stm.Atomically(func(tx *stm.Tx) (string, error) {
		a.Set(tx, a.Get(tx)+1)
		assert.Equal(t, 2, a.Get(tx), "a transaction reads its own writes")
		assert.Equal(t, 1, a.Load(), "writes are invisible until commit")
		b.Set(tx, b.Get(tx)+"y")
		b.Set(tx, b.Get(tx)+"z")
		return b.Get(tx), nil
	})
	require.NoError(t, err)
	assert.Equal(t, "xyz", got)
	assert.Equal(t, 2, a.Load())
	assert.Equal(t, "xyz", b.Load())

	a.Store(10)
	assert.Equal(t, 10, a.Load())
	n, err := stm.Atomically(func(tx *stm.Tx) (int, error) {
		return stm.Modify(tx, a, func(x int) int { return x * 2 }), nil
	})
	require.NoError(t, err)
	assert.Equal(t, 20, n)
	assert.Equal(t, 20, a.Load())
}

func TestManyVarsInOneTransaction(t *testing.T) {
	// More vars than the inline read and write buffers.
	vs := make([]*stm.Var[int], 100)
	for i := range vs {
		vs[i] = stm.NewVar(i)
	}
	_, err := stm.Atomically(func(tx *stm.Tx) (struct{}, error) {
		for _, v := range vs {
			v.Set(tx, v.Get(tx)+1)
		}
		for _, v := range vs {
			v.Set(tx, v.Get(tx)*2)
		}
		return struct{}{}, nil
	})
	require.NoError(t, err)
	for i, v := range vs {
		assert.Equal(t, (i+1)*2, v.Load())
	}
}

func TestErrorRollsBack(t *testing.T) {
	v := stm.NewVar(1)
	boom := errors.New("boom")
	n, err := stm.Atomically(func(tx *stm.Tx) (int, error) {
		v.Set(tx, 2)
		return 7, boom
	})
	assert.ErrorIs(t, err, boom)
	assert.Zero(t, n, "the result of a failed transaction is the zero value")
	assert.Equal(t, 1, v.Load(), "the write was rolled back")
}

func TestPanicRollsBackAndIsReraised(t *testing.T) {
	v := stm.NewVar(1)
	type myPanic struct{ msg string }
	func() {
		defer func() {
			r := recover()
			assert.Equal(t, myPanic{"inside"}, r, "the original panic value reaches the caller")
		}()
		_, _ = stm.Atomically(func(tx *stm.Tx) (int, error) {
			v.Set(tx, 2)
			panic(myPanic{"inside"})
		})
		t.Fatal("Atomically returned after a panic")
	}()
	assert.Equal(t, 1, v.Load())

	// The goroutine is usable for transactions again.
	_, err := stm.Atomically(func(tx *stm.Tx) (int, error) { v.Set(tx, 3); return 0, nil })
	require.NoError(t, err)
	assert.Equal(t, 3, v.Load())
}

func TestNestedAtomicallyIsAnError(t *testing.T) {
	v := stm.NewVar(1)
	var inner error
	_, err := stm.Atomically(func(tx *stm.Tx) (int, error) {
		v.Set(tx, 2)
		_, inner = stm.Atomically(func(tx *stm.Tx) (int, error) { return 0, nil })
		return 0, inner
	})
	assert.ErrorIs(t, inner, stm.ErrNested)
	assert.ErrorIs(t, err, stm.ErrNested)
	assert.Equal(t, 1, v.Load())

	_, _, err = stm.Attempt(func(tx *stm.Tx) (int, error) {
		_, _, err := stm.Attempt(func(tx *stm.Tx) (int, error) { return 0, nil })
		return 0, err
	})
	assert.ErrorIs(t, err, stm.ErrNested)

	_, err = stm.Atomically(func(tx *stm.Tx) (int, error) {
		defer func() {
			r := recover()
			e, ok := r.(error)
			if assert.True(t, ok, "Store inside a transaction panics with an error") {
				assert.ErrorIs(t, e, stm.ErrNested)
			}
		}()
		v.Store(5)
		return 0, nil
	})
	require.NoError(t, err)
	assert.Equal(t, 1, v.Load())
}

func TestRecoveredSignalsAreStillHonoured(t *testing.T) {
	// A body that swallows panics must not turn a Retry into a commit.
	v := stm.NewVar(0)
	_, wait, err := stm.Attempt(func(tx *stm.Tx) (int, error) {
		func() {
			defer func() { _ = recover() }()
			v.Set(tx, v.Get(tx)+1)
			tx.Retry()
		}()
		return 0, nil
	})
	require.NoError(t, err)
	require.NotNil(t, wait)
	wait.Cancel()
	assert.Equal(t, 0, v.Load())
}

func TestRetryWithoutReads(t *testing.T) {
	_, err := stm.Atomically(func(tx *stm.Tx) (int, error) {
		tx.Retry()
		return 0, nil
	})
	assert.ErrorIs(t, err, stm.ErrRetryNoReads)
}
