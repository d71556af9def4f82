package caddymodule

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// gunzipPipe decodes a gzip body pushed to it in writes, for upstreams that
// send gzip although we asked for none. gzip.Reader pulls, so a goroutine
// runs it; this path is rare and off the common fast path.
//
// The decoder goroutine never touches the response: it hands each decoded
// chunk to the handler's goroutine, which writes it (running the rewriter's
// Decide, which sets headers and the status line) inside Write and close
// only. The two take turns: Write gives the decoder the bytes and writes its
// output until it asks for more input, so once Write returns the decoder is
// parked and the next handler has the response to itself (reverse_proxy
// reads and changes the response headers after the body, for trailers).
type gunzipPipe struct {
	dst     io.Writer
	started bool

	in   chan []byte      // handler → decoder: the next input; closed at the end of the body
	need chan struct{}    // decoder → handler: it has used up its input and waits on in
	out  chan []byte      // decoder → handler: decoded bytes to write to dst
	ack  chan writeResult // handler → decoder: what writing them gave
	done chan error       // the decoder's result
	quit chan struct{}    // closed by abort: the decoder stops wherever it waits

	// Handler-side state.
	waiting  bool  // the decoder is parked on in
	inClosed bool  // the end of the body was signalled
	ended    bool  // the decoder has finished; further input is discarded
	result   error // its result, once ended

	cur []byte // decoder-side: the input not yet read
}

type writeResult struct {
	n   int
	err error
}

var errGunzipAborted = errors.New("response aborted")

func newGunzipPipe() *gunzipPipe {
	return &gunzipPipe{
		in:   make(chan []byte),
		need: make(chan struct{}),
		out:  make(chan []byte),
		ack:  make(chan writeResult),
		done: make(chan error, 1),
		quit: make(chan struct{}),
	}
}

func (g *gunzipPipe) start(dst io.Writer) {
	g.dst, g.started = dst, true
	go func() {
		zr, err := gzip.NewReader(gunzipInput{g})
		if err == nil {
			_, err = io.Copy(gunzipOutput{g}, zr)
			if err == nil {
				err = zr.Close()
			}
		}
		if err != nil && !errors.Is(err, errGunzipAborted) {
			err = fmt.Errorf("decoding upstream gzip body: %w", err)
		}
		g.done <- err
	}()
}

// Write hands p to the decoder and writes what it decodes, returning once
// the decoder has used p up. It never fails: once the decoder has stopped,
// the rest of the body is discarded and the error is reported by close, so
// that the handler can still answer with an error status if nothing was sent.
func (g *gunzipPipe) Write(p []byte) (int, error) {
	if len(p) == 0 || !g.serve() {
		return len(p), nil
	}
	g.waiting = false
	g.in <- p // the decoder is parked on in: it takes p at once
	g.serve()
	return len(p), nil
}

// serve writes the decoder's output until the decoder waits for input
// (true) or has ended (false).
func (g *gunzipPipe) serve() bool {
	for !g.waiting && !g.ended {
		select {
		case b := <-g.out:
			n, err := g.dst.Write(b)
			g.ack <- writeResult{n, err}
		case <-g.need:
			g.waiting = true
		case err := <-g.done:
			g.ended, g.result = true, err
		}
	}
	return g.waiting
}

// close ends the input, writes the rest of the output and returns the
// decoder's result.
func (g *gunzipPipe) close() error {
	if !g.inClosed {
		g.inClosed = true
		close(g.in)
	}
	for !g.ended { // the decoder reads io.EOF from then on
		g.waiting = false
		g.serve()
	}
	return g.result
}

// abort stops the decoder without writing anything more.
func (g *gunzipPipe) abort() {
	if !g.started || g.ended {
		return
	}
	close(g.quit)
	g.result, g.ended = <-g.done, true
}

// gunzipInput is the decoder's side of the input: when it has used up the
// last bytes it asks the handler for more and waits.
type gunzipInput struct{ g *gunzipPipe }

func (r gunzipInput) Read(p []byte) (int, error) {
	g := r.g
	if len(g.cur) == 0 {
		g.cur = nil // the handler's slice is not ours beyond this point
		select {
		case g.need <- struct{}{}:
		case <-g.quit:
			return 0, errGunzipAborted
		}
		select {
		case b, ok := <-g.in:
			if !ok {
				return 0, io.EOF
			}
			g.cur = b
		case <-g.quit:
			return 0, errGunzipAborted
		}
	}
	n := copy(p, g.cur)
	g.cur = g.cur[n:]
	return n, nil
}

// gunzipOutput is the decoder's side of the output: the handler writes.
type gunzipOutput struct{ g *gunzipPipe }

func (w gunzipOutput) Write(p []byte) (int, error) {
	g := w.g
	select {
	case g.out <- p:
	case <-g.quit:
		return 0, errGunzipAborted
	}
	select {
	case res := <-g.ack:
		return res.n, res.err
	case <-g.quit:
		return 0, errGunzipAborted
	}
}
