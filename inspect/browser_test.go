package inspect_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amberrt/amber/inspect"
	"github.com/amberrt/amber/interp"
	"github.com/amberrt/amber/task"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"
)

// browser finds a Chromium to drive: $AMBER_CHROME, or one on PATH. In CI
// (CI=true, or AMBER_CI set by .ci/run) a missing browser fails the test;
// elsewhere it skips, saying how to run it.
func browser(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AMBER_CHROME"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" || os.Getenv("AMBER_CI") != "" {
		t.Fatal("no Chromium found, and the browser tests must run in CI (.ci/run installs the Debian package chromium)")
	}
	t.Skip("no Chromium found: install it (apt-get install chromium) or set AMBER_CHROME to run the browser tests")
	return ""
}

// TestBrowser drives the inspector in headless Chromium: open the task
// list, filter it, open a task, see its timeline drawn, send it a message
// through the typed form, and see it finish without reloading the page.
// Screenshots are saved in a temporary directory named in the log.
func TestBrowser(t *testing.T) {
	chrome := browser(t)
	st, _ := sqliteStore(t)
	reg := registry()
	populate(t, st, reg, 20)
	d, err := interp.NewDurable(st, interp.WithRegistry(reg),
		interp.WithDurableOptions(interp.DurableOptions{Poll: 10 * time.Millisecond}))
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	// The inspector of a later build, which has versions 2 and 3 of ask.
	srv := httptest.NewServer(newServer(t, st, inspect.Options{Registry: debugRegistry(), Poll: 200 * time.Millisecond}))
	t.Cleanup(srv.Close)

	shots, err := os.MkdirTemp("", "amber-inspector-screenshots-")
	require.NoError(t, err)
	t.Logf("screenshots in %s", shots)
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name), png, 0o644)
		})
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(ctx, chromedp.WithErrorf(t.Logf))
	defer cancelTab()

	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, steps...))
	}

	// The list, then a filter.
	do(chromedp.Navigate(srv.URL+"/tasks"),
		chromedp.WaitVisible(css(`table.tasks`)),
		shot("list.png"),
		chromedp.SetValue(css(`select[name="status"]`), "waiting"),
		chromedp.SendKeys(css(`input[name="q"]`), "ask"),
		chromedp.Click(css(`form.filters button[type="submit"]`)),
		chromedp.WaitReady(css(`select[name="status"] option[value="waiting"][selected]`)),
		shot("list-filtered.png"))
	location := value(t, ctx, chromedp.Location())
	rows := value(t, ctx, chromedp.Text(css(`table.tasks tbody`)))
	require.Contains(t, location, "status=waiting")
	require.Contains(t, rows, slashID)
	require.NotContains(t, rows, doneID)
	require.NotContains(t, rows, fanoutID)

	// A task, its timeline drawn.
	do(chromedp.Click(css(`a.task-link[href="`+taskURL(slashID)+`"]`)),
		chromedp.WaitVisible(css(`#timeline`)),
		shot("task.png"))
	require.Positive(t, value(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#timeline .op").length`)), "the timeline has ops")
	require.Greater(t, value(t, ctx, chromedp.Evaluate[float64](`document.querySelector("#timeline").getBoundingClientRect().width`)), 100.0,
		"the timeline is drawn at a visible size")

	// A fanout task: two fibers, activities as bars.
	do(chromedp.Navigate(srv.URL+taskURL(fanoutID)),
		chromedp.WaitVisible(css(`#timeline`)),
		shot("timeline-fibers.png"))
	require.Equal(t, 2, value(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#timeline rect.activity").length`)))
	// AMBER_README_SCREENSHOT=path saves this page's first screen there:
	// the README's picture (inspect/testdata/task-page.png).
	if path := os.Getenv("AMBER_README_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, png, 0o644))
	}

	// The replay debugger: open it from the task page, step through the
	// long task's journal with the buttons and the arrow keys.
	do(chromedp.Navigate(srv.URL+taskURL(longID)),
		chromedp.Click(css(`#replay-link`)),
		chromedp.WaitVisible(css(`#verdict .fits`)),
		chromedp.WaitVisible(css(`#step[data-seq="1"]`)),
		chromedp.Click(css(`#next`)),
		chromedp.WaitVisible(css(`#step[data-seq="2"]`)),
		chromedp.KeyEvent(kb.ArrowRight),
		chromedp.WaitVisible(css(`#step[data-seq="3"]`)),
		shot("replay-step.png"))
	require.Contains(t, value(t, ctx, chromedp.Text(css(`#step-verdict`))), "the program issued this op")
	require.Contains(t, value(t, ctx, chromedp.Text(css(`#issued`))), "effect.NowOp")
	require.Contains(t, value(t, ctx, chromedp.Text(css(`tr.current`))), "3")

	// Another version of ask: it diverges at entry 1, shown side by side.
	do(chromedp.Navigate(srv.URL+taskURL(waitingID)+"/replay"),
		chromedp.WaitVisible(css(`#verdict .fits`)),
		chromedp.SetValue(css(`#version`), "2"),
		chromedp.Click(css(`form.version button[type="submit"]`)),
		chromedp.WaitVisible(css(`#verdict .diverges`)),
		shot("replay-diverges.png"))
	require.Contains(t, value(t, ctx, chromedp.Text(css(`#verdict`))), "diverges from this journal at entry 1")
	require.Contains(t, value(t, ctx, chromedp.Text(css(`#step-verdict`))), "diverges here")
	require.Contains(t, value(t, ctx, chromedp.Text(css(`#issued`))), "effect.ReceiveOp")

	// The list updates in place: a task that finishes while the list is
	// open moves from waiting to done without a reload.
	_, err = interp.StartAny(d, ask, "eve", interp.WithID("ask-live"))
	require.NoError(t, err)
	waitStatus(t, st, map[string]task.Status{"ask-live": task.Waiting})
	do(chromedp.Navigate(srv.URL+"/tasks?program=ask"),
		chromedp.WaitVisible(css(`a.task-link[href="/tasks/ask-live"]`)))
	require.True(t, value(t, ctx, chromedp.Evaluate[bool](`window.amberMarker = true`)))
	doneBefore := value(t, ctx, chromedp.Text(css(`a.count.status-done b`)))
	env, err := reg.EncodeMessage(Raise{By: "list"})
	require.NoError(t, err)
	require.NoError(t, st.Send(context.Background(), "ask-live", env))
	do(chromedp.Poll[chromedp.Void](`document.querySelector("a.count.status-done b").textContent !== `+strconv.Quote(doneBefore),
		chromedp.WithPollingTimeout(30*time.Second)),
		shot("list-live.png"))
	require.True(t, value(t, ctx, chromedp.Evaluate[bool](`window.amberMarker === true`)), "the list updated in place, without a reload")

	// Send a message through the typed form; the task finishes, and the
	// page shows it without a reload (the marker set on the page survives).
	do(chromedp.Navigate(srv.URL+taskURL(slashID)),
		chromedp.WaitVisible(css(`form.typed input[name="f.By"]`)),
		chromedp.SendKeys(css(`form.typed input[name="f.By"]`), "browser"),
		chromedp.SendKeys(css(`form.typed input[name="f.Amount"]`), "3"),
		chromedp.Click(css(`form.typed button[type="submit"]`)),
		chromedp.WaitVisible(css(`p.notice`)))
	require.True(t, value(t, ctx, chromedp.Evaluate[bool](`window.amberMarker = true`)))
	do(chromedp.WaitVisible(css(`#result`)), shot("task-done.png"))
	require.Equal(t, "done", value(t, ctx, chromedp.Text(css(`#status`))))
	require.Equal(t, `"bob raised by browser"`, value(t, ctx, chromedp.Text(css(`#result`))))
	require.True(t, value(t, ctx, chromedp.Evaluate[bool](`window.amberMarker === true`)), "the page updated in place, without a reload")
	u, err := url.Parse(value(t, ctx, chromedp.Location()))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(u.Path, "/tasks/"), u.String())
}

// value runs a browser action and returns its value.
func value[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	require.NoError(t, err)
	return v
}
