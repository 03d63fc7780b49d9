package api

import (
	"embed"
	"io/fs"
	"net/http"
)

// The dashboard is plain HTML, CSS and JavaScript embedded in the binary
// (no CDN, no build step): it asks for a token, keeps it in the tab's
// sessionStorage, and calls the API like any client.
//
//go:embed dashboard
var dashboardFS embed.FS

func dashboard() http.Handler {
	sub, err := fs.Sub(dashboardFS, "dashboard")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The page runs no inline script and loads nothing from elsewhere.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		files.ServeHTTP(w, r)
	})
}
