// Package browser drives headless Chromium for tests of the HTML report: it
// opens a page, records console errors, exceptions and every network
// request, evaluates script and takes screenshots. It speaks the DevTools
// protocol over --remote-debugging-pipe (NUL-separated JSON on file
// descriptors 3 and 4), so it needs no port, no websocket library and no
// browser download: Debian's chromium package is enough.
package browser

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Find returns the Chromium executable: $CHROMIUM, else the first of
// chromium, chromium-browser, google-chrome on the PATH or /usr/bin/chromium.
func Find() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		found, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("CHROMIUM=%s: %w", p, err)
		}
		return found, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no Chromium found (apt-get install chromium, or set CHROMIUM)")
}

// Flags are the command-line flags Chromium is started with: headless, no
// sandbox (tests run as root), and nothing that reaches for the network on
// its own, so that every request a page makes is the page's.
var Flags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
	"--no-default-browser-check", "--disable-features=Translate,OptimizationHints,MediaRouter",
	"--remote-debugging-pipe",
}

// Browser is a running Chromium.
type Browser struct {
	cmd     *exec.Cmd
	w       io.WriteCloser
	dir     string
	mu      sync.Mutex
	next    int
	pending map[int]chan message
	subs    map[string][]chan message // by session ID
	done    chan struct{}
	err     error
	stderr  strings.Builder
}

type message struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *protoError     `json:"error,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
}

type protoError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Start runs Chromium at path with a new, empty profile.
func Start(path string) (*Browser, error) {
	dir, err := os.MkdirTemp("", "trace-forensics-chromium-")
	if err != nil {
		return nil, err
	}
	toChrome, ourEnd, err := os.Pipe() // Chromium reads fd 3
	if err != nil {
		return nil, err
	}
	fromChrome, theirEnd, err := os.Pipe() // Chromium writes fd 4
	if err != nil {
		return nil, err
	}
	args := append(append([]string{}, Flags...), "--user-data-dir="+dir, "about:blank")
	cmd := exec.Command(path, args...)
	cmd.ExtraFiles = []*os.File{toChrome, theirEnd}
	b := &Browser{cmd: cmd, w: ourEnd, dir: dir, pending: map[int]chan message{}, subs: map[string][]chan message{}, done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{b: &b.stderr, mu: &b.mu}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	toChrome.Close()
	theirEnd.Close()
	go b.read(fromChrome)
	return b, nil
}

type lockedWriter struct {
	b  *strings.Builder
	mu *sync.Mutex
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() < 64<<10 {
		w.b.Write(p)
	}
	return len(p), nil
}

func (b *Browser) read(r io.ReadCloser) {
	defer r.Close()
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		raw, err := br.ReadBytes(0)
		if err != nil {
			b.mu.Lock()
			b.err = fmt.Errorf("chromium closed the pipe: %v", err)
			b.mu.Unlock()
			close(b.done)
			return
		}
		var m message
		if json.Unmarshal(raw[:len(raw)-1], &m) != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch := b.pending[m.ID]; ch != nil {
				ch <- m
				delete(b.pending, m.ID)
			}
		} else {
			for _, ch := range b.subs[m.SessionID] {
				select {
				case ch <- m:
				default: // a full subscriber loses events rather than blocking the reader
				}
			}
		}
		b.mu.Unlock()
	}
}

// call sends one command and waits for its answer.
func (b *Browser) call(ctx context.Context, session, method string, params, result any) error {
	if params == nil {
		params = struct{}{}
	}
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	ch := make(chan message, 1)
	b.mu.Lock()
	if b.err != nil {
		err := b.err
		b.mu.Unlock()
		return err
	}
	b.next++
	id := b.next
	b.pending[id] = ch
	msg, _ := json.Marshal(message{ID: id, Method: method, Params: p, SessionID: session})
	_, err = b.w.Write(append(msg, 0))
	b.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("%s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		if result != nil {
			return json.Unmarshal(m.Result, result)
		}
		return nil
	case <-b.done:
		return fmt.Errorf("%s: %v", method, b.err)
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// Stderr returns what Chromium printed, for failure messages.
func (b *Browser) Stderr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stderr.String()
}

// Close ends Chromium and removes its profile.
func (b *Browser) Close() error {
	_ = b.call(context.Background(), "", "Browser.close", nil, nil)
	b.w.Close()
	exited := make(chan error, 1)
	go func() { exited <- b.cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = b.cmd.Process.Kill()
		<-exited
	}
	return os.RemoveAll(b.dir)
}

// Page is one tab.
type Page struct {
	b       *Browser
	session string
	events  chan message

	mu       sync.Mutex
	Console  []string // console.error/warn/assert calls, exceptions and error log entries
	Requests []string // URLs of every request the page made, the document included
	loaded   chan struct{}
	synced   map[int]chan struct{}
	syncs    int
}

// NewPage opens a blank tab and starts recording its console, errors and
// network requests.
func (b *Browser) NewPage(ctx context.Context) (*Page, error) {
	var t struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &t); err != nil {
		return nil, err
	}
	var a struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": t.TargetID, "flatten": true}, &a); err != nil {
		return nil, err
	}
	p := &Page{b: b, session: a.SessionID, events: make(chan message, 4096), loaded: make(chan struct{}, 16), synced: map[int]chan struct{}{}}
	b.mu.Lock()
	b.subs[a.SessionID] = append(b.subs[a.SessionID], p.events)
	b.mu.Unlock()
	go p.record()
	for _, domain := range []string{"Page", "Runtime", "Log", "Network"} {
		if err := p.Call(ctx, domain+".enable", nil, nil); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *Page) record() {
	for {
		var m message
		select {
		case m = <-p.events:
		case <-p.b.done:
			return
		}
		p.mu.Lock()
		switch m.Method {
		case "trace-forensics.sync":
			close(p.synced[m.ID])
			delete(p.synced, m.ID)
		case "Runtime.consoleAPICalled":
			var e struct {
				Type string `json:"type"`
				Args []struct {
					Value       any    `json:"value"`
					Description string `json:"description"`
				} `json:"args"`
			}
			if json.Unmarshal(m.Params, &e) == nil && (e.Type == "error" || e.Type == "warning" || e.Type == "assert") {
				var parts []string
				for _, a := range e.Args {
					if a.Description != "" {
						parts = append(parts, a.Description)
					} else {
						parts = append(parts, fmt.Sprint(a.Value))
					}
				}
				p.Console = append(p.Console, "console."+e.Type+": "+strings.Join(parts, " "))
			}
		case "Runtime.exceptionThrown":
			var e struct {
				Details struct {
					Text      string `json:"text"`
					Exception struct {
						Description string `json:"description"`
					} `json:"exception"`
				} `json:"exceptionDetails"`
			}
			if json.Unmarshal(m.Params, &e) == nil {
				p.Console = append(p.Console, "exception: "+e.Details.Text+" "+e.Details.Exception.Description)
			}
		case "Log.entryAdded":
			var e struct {
				Entry struct {
					Level, Source, Text, URL string
				} `json:"entry"`
			}
			if json.Unmarshal(m.Params, &e) == nil && (e.Entry.Level == "error" || e.Entry.Level == "warning") {
				p.Console = append(p.Console, fmt.Sprintf("log %s (%s): %s %s", e.Entry.Level, e.Entry.Source, e.Entry.Text, e.Entry.URL))
			}
		case "Network.requestWillBeSent":
			var e struct {
				Request struct {
					URL string `json:"url"`
				} `json:"request"`
			}
			if json.Unmarshal(m.Params, &e) == nil {
				p.Requests = append(p.Requests, e.Request.URL)
			}
		case "Page.loadEventFired":
			select {
			case p.loaded <- struct{}{}:
			default:
			}
		}
		p.mu.Unlock()
	}
}

// Call sends a command to the page's session.
func (p *Page) Call(ctx context.Context, method string, params, result any) error {
	return p.b.call(ctx, p.session, method, params, result)
}

// Navigate loads url and waits for its load event.
func (p *Page) Navigate(ctx context.Context, url string) error {
	var r struct {
		ErrorText string `json:"errorText"`
	}
	if err := p.Call(ctx, "Page.navigate", map[string]any{"url": url}, &r); err != nil {
		return err
	}
	if r.ErrorText != "" {
		return fmt.Errorf("navigating to %s: %s", url, r.ErrorText)
	}
	select {
	case <-p.loaded:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s to load: %w", url, ctx.Err())
	}
}

// Eval evaluates a script expression (promises awaited) and decodes its
// JSON-serialisable value into out.
func (p *Page) Eval(ctx context.Context, expr string, out any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := p.Call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r)
	if err != nil {
		return err
	}
	if r.Exception != nil {
		return fmt.Errorf("script failed: %s %s", r.Exception.Text, r.Exception.Exception.Description)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(r.Result.Value, out)
}

// Screenshot returns a PNG of the whole page at the given width in CSS
// pixels, scale 1; with print, as the page looks in print media.
func (p *Page) Screenshot(ctx context.Context, width int, print bool) ([]byte, error) {
	media := ""
	if print {
		media = "print"
	}
	if err := p.Call(ctx, "Emulation.setEmulatedMedia", map[string]any{"media": media}, nil); err != nil {
		return nil, err
	}
	if err := p.Call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": false}, nil); err != nil {
		return nil, err
	}
	var height int
	if err := p.Eval(ctx, "Math.ceil(document.documentElement.scrollHeight)", &height); err != nil {
		return nil, err
	}
	if err := p.Call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": min(max(height, 100), 16000), "deviceScaleFactor": 1, "mobile": false}, nil); err != nil {
		return nil, err
	}
	var r struct {
		Data string `json:"data"`
	}
	if err := p.Call(ctx, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &r); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(r.Data)
}

// PrintPDF prints the page as Chromium's print preview would, A4.
func (p *Page) PrintPDF(ctx context.Context) ([]byte, error) {
	var r struct {
		Data string `json:"data"`
	}
	err := p.Call(ctx, "Page.printToPDF", map[string]any{"paperWidth": 8.27, "paperHeight": 11.69, "printBackground": true, "preferCSSPageSize": true}, &r)
	if err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(r.Data)
}

// Snapshot returns copies of what was recorded up to now: a round trip to
// the page makes sure every event Chromium sent before it is counted.
func (p *Page) Snapshot(ctx context.Context) (console, requests []string, err error) {
	if err := p.Eval(ctx, "0", nil); err != nil {
		return nil, nil, err
	}
	p.mu.Lock()
	p.syncs++
	id := p.syncs
	done := make(chan struct{})
	p.synced[id] = done
	p.mu.Unlock()
	p.events <- message{ID: id, Method: "trace-forensics.sync"}
	select {
	case <-done:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.Console...), append([]string(nil), p.Requests...), nil
}
