package interp_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/store"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// Start a batch of durable tasks in one store transaction, then wait for
// them. A batch that names an ID that exists is refused whole.
func ExampleStartMany() {
	dir, err := os.MkdirTemp("", "amber-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(filepath.Join(dir, "amber.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	reg := task.NewRegistry()
	if err := task.Register(reg, welcome); err != nil {
		log.Fatal(err)
	}
	d, err := interp.NewDurable(st, interp.WithRegistry(reg))
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()

	names := []string{"ann", "bob", "cy"}
	hs, err := interp.StartMany(d, welcome, names, interp.WithIDs("w-ann", "w-bob", "w-cy"))
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range hs {
		v, err := h.Wait(context.Background())
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(h.ID(), v)
	}

	// w-bob exists: nothing of this batch is created, not even w-dee.
	_, err = interp.StartMany(d, welcome, []string{"dee", "bob"}, interp.WithIDs("w-dee", "w-bob"))
	fmt.Println("refused:", errors.Is(err, store.ErrExists))
	_, _, err = st.Load(context.Background(), "w-dee")
	fmt.Println("w-dee created:", !errors.Is(err, store.ErrNotFound))
	// Output:
	// w-ann hello, ann!
	// w-bob hello, bob!
	// w-cy hello, cy!
	// refused: true
	// w-dee created: false
}
