package harness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// StaticServer is the benchmark's nginx-like upstream: it answers
// GET/HEAD /page/<size> and /policy-page/<size> with the same page bytes as
// PageHandler, but from responses built once per path (status line,
// headers with Content-Length, body) and written to the connection with one
// writev, the way a static file server with sendfile costs next to nothing
// per request. It parses only what it needs of the request (the request
// line, the end of the header, Connection: close), so that on a shared
// machine it takes as little CPU as possible from the caddy being measured.
// Requests with a body, or anything but HTTP/1.x GET/HEAD, get a 400 and the
// connection is closed: caddy's reverse_proxy never sends them in the
// benchmark.
//
// It is not a general HTTP server; it exists to make the upstream's cost
// negligible next to caddy's, which is the condition of issue 15's goals.
type StaticServer struct {
	ln        net.Listener
	responses sync.Map // path → *staticResponse
	date      atomic.Pointer[[]byte]
	done      chan struct{}
	wg        sync.WaitGroup
	connsMu   sync.Mutex
	conns     map[net.Conn]struct{}
}

// staticResponse is the precomputed answer for one path.
type staticResponse struct {
	head []byte // status line and headers up to (not including) Date
	tail []byte // the rest of the headers, without the blank line
	body []byte
}

// lastModified is a fixed Last-Modified. With the ETag, Accept-Ranges and
// Server headers it makes the response look like nginx's for a static file:
// the intercom handler has to deal with them on a page whose body it
// changes, as it does behind nginx.
const lastModified = "Mon, 02 Nov 2026 10:00:00 GMT"

// NewStaticServer serves on ln until Close.
func NewStaticServer(ln net.Listener) *StaticServer {
	s := &StaticServer{ln: ln, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	s.setDate()
	s.wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				s.setDate()
			}
		}
	})
	s.wg.Go(s.acceptLoop)
	return s
}

func (s *StaticServer) setDate() {
	d := []byte("Date: " + time.Now().UTC().Format(http.TimeFormat) + "\r\n")
	s.date.Store(&d)
}

// Addr is the listener's address.
func (s *StaticServer) Addr() string { return s.ln.Addr().String() }

// Close stops accepting, closes every connection and waits for the
// connection goroutines.
func (s *StaticServer) Close() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	close(s.done)
	err := s.ln.Close()
	s.connsMu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.connsMu.Unlock()
	s.wg.Wait()
	return err
}

func (s *StaticServer) acceptLoop() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.connsMu.Lock()
		select {
		case <-s.done:
			s.connsMu.Unlock()
			c.Close()
			return
		default:
		}
		s.conns[c] = struct{}{}
		s.connsMu.Unlock()
		s.wg.Go(func() {
			s.serveConn(c)
			s.connsMu.Lock()
			delete(s.conns, c)
			s.connsMu.Unlock()
			c.Close()
		})
	}
}

var errBadRequest = errors.New("bad request")

// The ends of a response header: the blank line, after a Connection: close
// when the connection closes after the response.
var (
	endKeepAlive = []byte("\r\n")
	endClose     = []byte("Connection: close\r\n\r\n")
)

func (s *StaticServer) serveConn(c net.Conn) {
	r := bufio.NewReaderSize(c, 4096)
	for {
		method, path, keepAlive, err := readRequestHead(r)
		if err != nil {
			if errors.Is(err, errBadRequest) {
				io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			}
			return
		}
		resp := s.response(path)
		if resp == nil {
			io.WriteString(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
		} else {
			end := endKeepAlive
			if !keepAlive {
				end = endClose
			}
			bufs := net.Buffers{resp.head, *s.date.Load(), resp.tail, end}
			if method == "GET" {
				bufs = append(bufs, resp.body)
			}
			if _, err := bufs.WriteTo(c); err != nil {
				return
			}
		}
		if !keepAlive {
			return
		}
	}
}

// readRequestHead reads one request's line and header, and returns its
// method, path (query dropped) and whether the connection stays open.
func readRequestHead(r *bufio.Reader) (method, path string, keepAlive bool, err error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return "", "", false, err
	}
	line = bytes.TrimRight(line, "\r\n")
	m, rest, ok1 := bytes.Cut(line, []byte(" "))
	target, proto, ok2 := bytes.Cut(rest, []byte(" "))
	if !ok1 || !ok2 || (string(m) != "GET" && string(m) != "HEAD") || !bytes.HasPrefix(proto, []byte("HTTP/1.")) {
		return "", "", false, errBadRequest
	}
	keepAlive = string(proto) != "HTTP/1.0"
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	method, path = string(m), string(target)
	for {
		h, err := r.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				err = errBadRequest
			}
			return "", "", false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			return method, path, keepAlive, nil
		}
		name, value, _ := bytes.Cut(h, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")) && string(value) != "0",
			bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return "", "", false, errBadRequest // no request bodies here
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			keepAlive = false
		}
	}
}

// response returns the precomputed response for path, building it on first
// use (nil: not a page path).
func (s *StaticServer) response(path string) *staticResponse {
	if v, ok := s.responses.Load(path); ok {
		return v.(*staticResponse)
	}
	sizeText, policy, ok := cutPagePrefix(path)
	if !ok {
		return nil
	}
	size, err := ParseSize(sizeText)
	if err != nil || size > maxStaticPage {
		return nil
	}
	body := Page(max(size, MinPageSize))
	tail := fmt.Appendf(nil, "Content-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n", len(body))
	if policy {
		for _, h := range PolicyHeaders {
			tail = fmt.Appendf(tail, "%s: %s\r\n", h[0], h[1])
		}
	} else {
		tail = fmt.Appendf(tail, "Last-Modified: %s\r\nETag: \"6a2f1c00-%x\"\r\nAccept-Ranges: bytes\r\n", lastModified, len(body))
	}
	resp := &staticResponse{
		head: []byte("HTTP/1.1 200 OK\r\nServer: bench-static\r\n"),
		tail: tail,
		body: body,
	}
	v, _ := s.responses.LoadOrStore(path, resp)
	return v.(*staticResponse)
}

// maxStaticPage bounds the pages StaticServer builds (they stay in memory).
const maxStaticPage = 1 << 30

// cutPagePrefix returns the size part of a page path, and whether the path
// asks for the page policy's headers (PolicyHeaders).
func cutPagePrefix(path string) (size string, policy, ok bool) {
	if size, ok = strings.CutPrefix(path, "/page/"); ok && size != "" {
		return size, false, true
	}
	if size, ok = strings.CutPrefix(path, "/policy-page/"); ok && size != "" {
		return size, true, true
	}
	return "", false, false
}
