// The Go side of the HTTP comparison (scripts/compare-http): a net/http
// server answering "hello" to every request, with keep-alive, as
// examples/net/http_hello answers it.
//
//	go run ./http_hello [address]     (default 127.0.0.1:8080)
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := "127.0.0.1:8080"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	body := []byte("hello")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})
	srv := &http.Server{
		Addr:              addr,
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      10 * time.Second,
		MaxHeaderBytes:    8 << 10,
	}
	fmt.Printf("go http_hello listening on http://%s/\n", addr)
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
