package browser

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The harness must see what it is there to catch: a console error, an
// uncaught exception and a request for something outside the page (to a
// closed port on loopback, so nothing leaves the machine).
func TestHarnessSeesErrorsAndRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chromium, err := Find()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v: CI must run the browser tests", err)
		}
		t.Skipf("%v; to run this test: apt-get install chromium", err)
	}
	page := filepath.Join(t.TempDir(), "bad.html")
	html := `<!DOCTYPE html><html><head><title>bad</title></head><body>
<p id="p">hello</p>
<img src="http://127.0.0.1:9/pixel.png" alt="">
<script>console.error("boom"); setTimeout(function () { undefinedFunction(); }, 0);</script>
</body></html>`
	if err := os.WriteFile(page, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := Start(chromium)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p, err := b.NewPage(ctx)
	if err != nil {
		t.Fatalf("%v\n%s", err, b.Stderr())
	}
	url := "file://" + filepath.ToSlash(page)
	if err := p.Navigate(ctx, url); err != nil {
		t.Fatal(err)
	}
	var text string
	if err := p.Eval(ctx, `document.getElementById("p").textContent`, &text); err != nil || text != "hello" {
		t.Fatalf("eval: %q %v", text, err)
	}
	if err := p.Eval(ctx, `nosuchthing.x`, nil); err == nil {
		t.Error("a failing script gave no error")
	}
	time.Sleep(200 * time.Millisecond) // the timer's exception
	console, requests, err := p.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(console, "\n")
	for _, want := range []string{"console.error: boom", "undefinedFunction"} {
		if !strings.Contains(all, want) {
			t.Errorf("console lacks %q:\n%s", want, all)
		}
	}
	if strings.Join(requests, " ") != url+" http://127.0.0.1:9/pixel.png" {
		t.Errorf("requests: %q", requests)
	}
	shot, err := p.Screenshot(ctx, 400, false)
	if err != nil || !strings.HasPrefix(string(shot), "\x89PNG") {
		t.Errorf("screenshot: %v", err)
	}
}
