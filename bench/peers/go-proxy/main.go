// A bare Go reverse proxy in front of an OpenAI-compatible upstream: a bearer check, the model
// prefix stripped, the body forwarded and the answer streamed back (flushed per write, so SSE
// passes through). No queue, no ledger, no retries. It stands in for the class of GoModel (a Go
// gateway without a durable queue), whose module cannot be built here (bench/peers/gomodel-like
// rebuilds its request path): it is what such a gateway costs at the least, so beating it means
// beating any of them on the same request path.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	upstream := flag.String("upstream", "", "upstream base URL, e.g. http://127.0.0.1:9000/v1")
	key := flag.String("key", "", "bearer key clients must send")
	upstreamKey := flag.String("upstream-key", "", "bearer key sent upstream")
	flag.Parse()
	target, err := url.Parse(*upstream)
	if err != nil || *upstream == "" {
		log.Fatalf("bad -upstream %q", *upstream)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 256
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.URL.Path = strings.TrimSuffix(target.Path, "/") + strings.TrimPrefix(r.In.URL.Path, "/v1")
			r.Out.Header.Set("Authorization", "Bearer "+*upstreamKey)
		},
		Transport:     transport,
		FlushInterval: -1,
	}
	http.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+*key {
			http.Error(w, `{"error":{"message":"invalid key","type":"invalid_request_error","code":"invalid_api_key"}}`, http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		// Parse and re-encode the body as a gateway must (to route on the model and strip its prefix).
		var req map[string]any
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, `{"error":{"message":"body is not JSON","type":"invalid_request_error"}}`, http.StatusBadRequest)
			return
		}
		if m, ok := req["model"].(string); ok {
			if i := strings.IndexByte(m, '/'); i >= 0 {
				req["model"] = m[i+1:]
			}
		}
		out, _ := json.Marshal(req)
		r.Body = io.NopCloser(bytes.NewReader(out))
		r.ContentLength = int64(len(out))
		r.Header.Set("Content-Length", strconv.Itoa(len(out)))
		proxy.ServeHTTP(w, r)
	})
	srv := &http.Server{Addr: *addr}
	log.Printf("go-proxy listening on %s -> %s", *addr, *upstream)
	log.Fatal(srv.ListenAndServe())
}
