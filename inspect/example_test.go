package inspect_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/amberrt/amber/inspect"
	"github.com/amberrt/amber/store/sqlite"
	"github.com/amberrt/amber/task"
)

// An inspector is an http.Handler over a store and a registry; amber serve
// runs one on inspect.DefaultAddr. Here it serves an empty store's task
// list, and refuses a public address that has no token.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "amber-example-")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(filepath.Join(dir, "amber.db"), nil)
	if err != nil {
		panic(err)
	}
	defer st.Close()

	srv, err := inspect.New(inspect.Options{Store: st, Registry: task.NewRegistry()})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(srv) // on 127.0.0.1, like DefaultAddr
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/tasks")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status, strings.Contains(string(body), "No task matches."))

	fmt.Println(inspect.CheckAddr("0.0.0.0:7700", ""))
	fmt.Println(inspect.CheckAddr("0.0.0.0:7700", os.Getenv("NO_SUCH_VARIABLE")+"s3cret"))
	// Output:
	// 200 OK true
	// inspect: an address other than loopback needs a token (--token or AMBER_TOKEN): 0.0.0.0:7700
	// <nil>
}
