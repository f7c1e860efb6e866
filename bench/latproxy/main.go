// Command latproxy is a reverse proxy that holds every request for a fixed
// time before passing it on: a local S3 server (MinIO) made to answer like
// a remote one, for benchmarks. Host headers pass through unchanged, so
// signed requests stay valid.
//
//	go run ./bench/latproxy -listen 127.0.0.1:17943 -to http://127.0.0.1:9000 -delay 30ms
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:17943", "address to listen on")
	to := flag.String("to", "", "URL of the server behind")
	delay := flag.Duration("delay", 30*time.Millisecond, "added to every request")
	flag.Parse()
	target, err := url.Parse(*to)
	if err != nil || target.Host == "" {
		log.Fatalf("-to %q: want a URL", *to)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(*delay) // the point of the tool: a round trip's latency
		proxy.ServeHTTP(w, r)
	})
	log.Fatal(http.ListenAndServe(*listen, handler))
}
