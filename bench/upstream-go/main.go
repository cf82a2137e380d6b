// A lighter stand-in for services/mock-providers in benchmarks (BENCH_UPSTREAM=go): the same OpenAI
// chat answers and the same `mock:{"tokens":N,"itl_ms":M}` directive, in Go, so that hundreds of
// paced streams load the gateways rather than the upstream. Only what bench/ sends is served:
// POST /v1/chat/completions (JSON or SSE, stream_options.include_usage), GET /v1/models and
// GET /_mock/stats (the readiness probe). The provider simulators stay the faithful reference.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

type message struct {
	Content any `json:"content"`
}

type chatRequest struct {
	Model         string    `json:"model"`
	Stream        bool      `json:"stream"`
	Messages      []message `json:"messages"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// script is the mock directive: how many content tokens, how far apart.
type script struct {
	Tokens int     `json:"tokens"`
	ItlMs  float64 `json:"itl_ms"`
}

var served atomic.Int64

// directive reads `mock:{...}` from the last message's text, as the Node mock does; 16 tokens without one.
func directive(req *chatRequest) (script, int) {
	s := script{Tokens: 16}
	text := ""
	if n := len(req.Messages); n > 0 {
		if str, ok := req.Messages[n-1].Content.(string); ok {
			text = str
		}
	}
	if i := strings.Index(text, "mock:"); i >= 0 {
		line := text[i+len("mock:"):]
		if j := strings.IndexByte(line, '\n'); j >= 0 {
			line = line[:j]
		}
		_ = json.Unmarshal([]byte(line), &s)
		text = text[:i]
	}
	return s, max(1, len(strings.Fields(text)))
}

func token(i int) string {
	if i == 0 {
		return "tok0"
	}
	return fmt.Sprintf(" tok%d", i)
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func chat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":{"message":"invalid JSON","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	n := served.Add(1)
	s, prompt := directive(&req)
	id := fmt.Sprintf("chatcmpl-go%d", n)
	created := time.Now().Unix()
	u := usage{prompt, s.Tokens, prompt + s.Tokens}
	if !req.Stream {
		var text strings.Builder
		for i := 0; i < s.Tokens; i++ {
			text.WriteString(token(i))
		}
		w.Header().Set("content-type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": text.String(), "refusal": nil}, "logprobs": nil, "finish_reason": "stop"}},
			"usage":   u, "system_fingerprint": "fp_mock",
		})
		return
	}
	w.Header().Set("content-type", "text/event-stream; charset=utf-8")
	w.Header().Set("cache-control", "no-cache")
	flusher := w.(http.Flusher)
	out := bufio.NewWriter(w)
	withUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	event := func(delta map[string]any, finish any) {
		chunk := map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model, "system_fingerprint": "fp_mock",
			"choices": []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}},
		}
		if withUsage {
			chunk["usage"] = nil
		}
		b, _ := json.Marshal(chunk)
		out.WriteString("data: ")
		out.Write(b)
		out.WriteString("\n\n")
		out.Flush()
		flusher.Flush() // one write per event, as the Node mock's res.write
	}
	gap := time.Duration(s.ItlMs * float64(time.Millisecond))
	event(map[string]any{"role": "assistant", "content": "", "refusal": nil}, nil)
	for i := 0; i < s.Tokens; i++ {
		if gap > 0 {
			time.Sleep(gap)
		}
		if r.Context().Err() != nil {
			return
		}
		event(map[string]any{"content": token(i)}, nil)
	}
	event(map[string]any{}, "stop")
	if withUsage {
		b, _ := json.Marshal(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model, "choices": []any{}, "usage": u})
		out.WriteString("data: ")
		out.Write(b)
		out.WriteString("\n\n")
	}
	out.WriteString("data: [DONE]\n\n")
	out.Flush()
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", chat)
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("content-type", "application/json")
		_, _ = w.Write([]byte(`{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1700000000,"owned_by":"openai"}]}`))
	})
	mux.HandleFunc("GET /_mock/stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("content-type", "application/json")
		fmt.Fprintf(w, `{"served":%d}`, served.Load())
	})
	log.Fatal(http.ListenAndServe(*addr, mux))
}
