package main

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromeTab starts headless Chromium at exe for one test (two minutes at
// most, closed when the test ends) and returns its tab and a step
// function that runs actions there and fails the test with where the tab
// was, and where, the tab's location now.
func chromeTab(t *testing.T, exe string) (tab context.Context, step func(what string, steps ...chromedp.Action[chromedp.Void]), where func() string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-background-networking", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)
	where = func() string {
		c, cancel := context.WithTimeout(tab, 2*time.Second)
		defer cancel()
		loc, _ := chromedp.Run(c, chromedp.Location())
		return loc
	}
	step = func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(tab, steps...); err != nil {
			t.Fatalf("%s: %v (at %s)", what, err, where())
		}
	}
	return tab, step, where
}
