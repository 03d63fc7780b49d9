package vnfm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server serves a Manager over HTTP on a listener of its own.
type Server struct {
	m    *Manager
	srv  *http.Server
	addr string
	done chan error
}

// Serve listens on addr (host:port; port 0 picks a free one) and serves
// m's Handler until Close.
func Serve(m *Manager, addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s := &Server{m: m, srv: &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second}, addr: ln.Addr().String(), done: make(chan error, 1)}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

// URL is the server's base URL.
func (s *Server) URL() string { return "http://" + s.addr }

// NotifyURL is the URL to give the notify block.
func (s *Server) NotifyURL() string { return s.URL() + PathMaintenance }

// Close stops the Manager (held requests end) and the server, waiting at
// most until ctx ends.
func (s *Server) Close(ctx context.Context) error {
	s.m.Close()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("stop the sample VNF manager's server: %w", err)
	}
	return <-s.done
}
