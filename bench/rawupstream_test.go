//go:build soak

package bench

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawUpstream is a misbehaving upstream: it reads each request with
// http.ReadRequest and answers by writing bytes straight to the TCP
// connection, so a test can cut, stall or corrupt a response at an exact
// byte. Handlers run at most maxHandlerTime; active counts the connections
// still open, so a test can tell that caddy let go of all of them.
type rawUpstream struct {
	ln       net.Listener
	routes   map[string]rawHandler
	active   atomic.Int64
	mu       sync.Mutex
	busy     map[string]int // handlers running, by path
	done     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// rawHandler answers one request; it owns conn and may close it.
type rawHandler func(u *rawUpstream, conn *net.TCPConn, req *http.Request)

const maxHandlerTime = 30 * time.Second

func startRawUpstream(t *testing.T, routes map[string]rawHandler) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln, routes: routes, done: make(chan struct{}), busy: map[string]int{}}
	u.wg.Go(u.serve)
	t.Cleanup(u.stop)
	return u
}

func (u *rawUpstream) track(path string, d int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.busy[path] += d
	if u.busy[path] == 0 {
		delete(u.busy, path)
	}
}

// running reports the handlers still running, by path.
func (u *rawUpstream) running() map[string]int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return maps.Clone(u.busy)
}

func (u *rawUpstream) addr() string { return u.ln.Addr().String() }

func (u *rawUpstream) stop() {
	u.stopOnce.Do(func() {
		close(u.done)
		u.ln.Close()
		u.wg.Wait()
	})
}

func (u *rawUpstream) serve() {
	for {
		conn, err := u.ln.Accept()
		if err != nil {
			return
		}
		u.active.Add(1)
		u.wg.Go(func() {
			defer u.active.Add(-1)
			defer conn.Close()
			br := bufio.NewReader(conn)
			for { // keep-alive: serve until a handler closes the connection
				// Like a real server's idle timeout: caddy may keep a
				// connection it dialled for a request that was cancelled
				// meanwhile; close it soon, so the counts settle.
				conn.SetDeadline(time.Now().Add(time.Second))
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				conn.SetDeadline(time.Now().Add(maxHandlerTime))
				h, ok := u.routes[req.URL.Path]
				if !ok {
					fmt.Fprintf(conn, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
					continue
				}
				u.track(req.URL.Path, 1)
				h(u, conn.(*net.TCPConn), req)
				u.track(req.URL.Path, -1)
				return // handlers end the connection
			}
		})
	}
}

// wait pauses a handler for d, or until the upstream stops or the peer
// closes the connection (then it returns false).
func (u *rawUpstream) wait(conn *net.TCPConn, d time.Duration) bool {
	closed := make(chan struct{})
	go func() {
		// A read returns when caddy closes its side (or on the deadline).
		conn.SetReadDeadline(time.Now().Add(d))
		var b [1]byte
		_, err := conn.Read(b[:])
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			close(closed)
		}
	}()
	select {
	case <-time.After(d):
		return true
	case <-closed:
		return false
	case <-u.done:
		return false
	}
}

// reset aborts the connection with a TCP RST (SO_LINGER 0), so the peer sees
// an error rather than a clean end of the body.
func reset(conn *net.TCPConn) {
	conn.SetLinger(0)
	conn.Close()
}

// framing is how a raw response delimits its body.
type framing int

const (
	contentLength  framing = iota // Content-Length: the full length
	chunked                       // Transfer-Encoding: chunked
	closeDelimited                // neither: the body ends when the connection closes
)

func (f framing) String() string {
	return [...]string{"content-length", "chunked", "close-delimited"}[f]
}

// writeHeader writes a status line and headers for a body of fullLen bytes.
func writeHeader(conn net.Conn, f framing, fullLen int, extra ...string) error {
	var b strings.Builder
	b.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n")
	switch f {
	case contentLength:
		fmt.Fprintf(&b, "Content-Length: %d\r\n", fullLen)
	case chunked:
		b.WriteString("Transfer-Encoding: chunked\r\n")
	case closeDelimited:
		b.WriteString("Connection: close\r\n")
	}
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	_, err := conn.Write([]byte(b.String()))
	return err
}

// writeBody writes p in the framing (a chunk when chunked).
func writeBody(conn net.Conn, f framing, p []byte) error {
	if f == chunked {
		if _, err := fmt.Fprintf(conn, "%x\r\n", len(p)); err != nil {
			return err
		}
		if _, err := conn.Write(p); err != nil {
			return err
		}
		_, err := conn.Write([]byte("\r\n"))
		return err
	}
	_, err := conn.Write(p)
	return err
}

// endBody finishes a chunked body.
func endBody(conn net.Conn, f framing) error {
	if f == chunked {
		_, err := conn.Write([]byte("0\r\n\r\n"))
		return err
	}
	return nil
}

// gzipWithCut compresses page and returns the gzip bytes and the offset in
// them up to which a decoder yields exactly page[:cut] (a sync flush point).
func gzipWithCut(page []byte, cut int) (gz []byte, at int) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(page[:cut])
	zw.Flush()
	at = buf.Len()
	zw.Write(page[cut:])
	zw.Close()
	return buf.Bytes(), at
}
