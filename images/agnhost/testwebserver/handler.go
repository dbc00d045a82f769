package testwebserver

import (
	"io/fs"
	"net/http"
)

// Handler serves the files of fsys; "/" serves index.html when present.
func Handler(fsys fs.FS) http.Handler {
	return http.FileServerFS(fsys)
}
