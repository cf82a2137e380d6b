// gomodel-like: a Go gateway that does, per request, the same classes of work as GoModel's request
// path (ENTERPILOT/GoModel ~v0.1.2x, the "MID" generation: translated-inference service + execution
// plan, encoding/json, logging/usage/auth of the vendor benchmark off), written independently from
// the description in the benchmark's notes (GoModel's code was never copied). go-proxy stays the
// upper bound (a bare reverse proxy); this peer is GoModel's request path.
//
// Per request (POST /v1/chat/completions):
//   - access log: one slog JSON record "REQUEST" at Info on stderr (method, uri, status, latency, host,
//     bytes_in, bytes_out, user_agent, remote_ip, request_id), as GoModel's default
//     LogConfig.OnlyModelInteractions=true does even with LOGGING_ENABLED=false;
//   - Recover (panic -> 500), 10 MB body limit, request id (X-Request-ID or a new UUIDv4, set on the
//     response, the request header and the context);
//   - snapshot: io.ReadAll of the body, method/path, parsed query, cloned headers, trace headers;
//   - bearer check of the client key (GoModel with a master key);
//   - planning: peek decode of model/provider/stream into a small struct, "openai/gpt-4o-mini" split
//     into provider + model, model registry resolution (a qualified selector copies the registry's
//     sorted model slice under its RWMutex and scans it, an unqualified one is a map lookup), an
//     ExecutionPlan + context.WithValue;
//   - handler: full json.Unmarshal into a typed ChatRequest (typed messages with a content decoder;
//     unknown top-level members kept raw via a second decode into map[string]json.RawMessage and
//     spliced back on marshal), provider hint removed and model rewritten, json.Marshal of the request
//     for the (no-op) response-cache key, then for upstream: circuit breaker acquire (mutex),
//     json.Marshal of the typed request, http.NewRequestWithContext with Bearer/Content-Type/
//     X-Client-Request-Id on one shared http.Client (GoModel's transport settings), retry loop,
//     breaker RecordSuccess (mutex); io.ReadAll of the answer, json.Unmarshal into a typed
//     ChatResponse, provider stamped, re-encoded with json.NewEncoder. Upstream >= 400: the status is
//     relayed with an OpenAI-style error built from the upstream's.
//   - streams: same request side (stream: true), the upstream body wrapped in a 512-byte bufio.Reader
//     that peeks the first non-space byte ('{' = the upstream ignored stream: converted to one SSE
//     chunk + [DONE] via a map[string]any decode/encode), then SSE headers, WriteHeader, Flush and a
//     byte relay through a pooled 32 KiB buffer with a Flush after every Read. No per-event JSON
//     (usage tracking, which would inspect every event, is off as in the vendor benchmark).
//
// Differences, all in GoModel's favour or neutral: a plain net/http ServeMux with middleware
// closures instead of echo v5 (echo's router, context and response wrappers cost more than a
// ServeMux); the mock upstream lists 4 models, so the per-request copy + scan of the model slice is
// shorter than against OpenAI's ~100; NEW-generation extras (goccy/go-json, gjson peeks, the per-Read
// stream idle timer, the write-deadline middleware) are not modelled since MID does not have them.
//
// Flags like go-proxy: -addr, -upstream (base URL ending in /v1), -key, -upstream-key; plus -retries
// and -breaker-failures (GoModel's defaults 3 and 5; the vendor benchmark runs with 0 and 1e9).
// At startup GET <upstream>/models fills the registry; without a list, gpt-4o-mini is registered.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"reflect"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"
)

const (
	bodyLimitBytes  = 10 << 20 // echo middleware.BodyLimit("10M")
	chatPath        = "/v1/chat/completions"
	openAIProvider  = "openai"
	fallbackModel   = "gpt-4o-mini"
	streamBufSize   = 32 << 10
	sseProbeBufSize = 512
)

// ---------------------------------------------------------------------------------------------
// Typed request and response (OpenAI Chat Completions)

// ChatRequest is the typed request. Unknown top-level members are kept raw in Extra and spliced
// back by MarshalJSON, so fields the gateway does not know still reach the upstream.
type ChatRequest struct {
	Model               string             `json:"model"`
	Provider            string             `json:"provider,omitempty"` // routing hint, never sent upstream
	Messages            []Message          `json:"messages"`
	Temperature         *float64           `json:"temperature,omitempty"`
	TopP                *float64           `json:"top_p,omitempty"`
	N                   *int               `json:"n,omitempty"`
	Stream              bool               `json:"stream,omitempty"`
	StreamOptions       *StreamOptions     `json:"stream_options,omitempty"`
	Stop                json.RawMessage    `json:"stop,omitempty"`
	MaxTokens           *int               `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int               `json:"max_completion_tokens,omitempty"`
	PresencePenalty     *float64           `json:"presence_penalty,omitempty"`
	FrequencyPenalty    *float64           `json:"frequency_penalty,omitempty"`
	LogitBias           map[string]float64 `json:"logit_bias,omitempty"`
	Logprobs            *bool              `json:"logprobs,omitempty"`
	TopLogprobs         *int               `json:"top_logprobs,omitempty"`
	User                string             `json:"user,omitempty"`
	Seed                *int64             `json:"seed,omitempty"`
	Tools               json.RawMessage    `json:"tools,omitempty"`
	ToolChoice          json.RawMessage    `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool              `json:"parallel_tool_calls,omitempty"`
	ResponseFormat      json.RawMessage    `json:"response_format,omitempty"`
	ReasoningEffort     string             `json:"reasoning_effort,omitempty"`
	Metadata            map[string]string  `json:"metadata,omitempty"`
	ServiceTier         string             `json:"service_tier,omitempty"`
	Store               *bool              `json:"store,omitempty"`

	Extra map[string]json.RawMessage `json:"-"`
}

type StreamOptions struct {
	IncludeUsage bool `json:"include_usage,omitempty"`
}

// chatRequestFields: the JSON names ChatRequest knows (from its tags, once at startup).
var chatRequestFields = jsonFieldNames(reflect.TypeOf(ChatRequest{}))

func jsonFieldNames(t reflect.Type) map[string]struct{} {
	names := make(map[string]struct{}, t.NumField())
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name != "" && name != "-" {
			names[name] = struct{}{}
		}
	}
	return names
}

func (r *ChatRequest) UnmarshalJSON(data []byte) error {
	type alias ChatRequest
	if err := json.Unmarshal(data, (*alias)(r)); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return err
	}
	for k := range all {
		if _, known := chatRequestFields[k]; known {
			delete(all, k)
		}
	}
	r.Extra = nil
	if len(all) > 0 {
		r.Extra = all
	}
	return nil
}

func (r *ChatRequest) MarshalJSON() ([]byte, error) {
	type alias ChatRequest
	b, err := json.Marshal((*alias)(r))
	if err != nil || len(r.Extra) == 0 {
		return b, err
	}
	keys := make([]string, 0, len(r.Extra))
	size := len(b)
	for k, v := range r.Extra {
		keys = append(keys, k)
		size += len(k) + len(v) + 4
	}
	sort.Strings(keys)
	out := make([]byte, 0, size)
	out = append(out, b[:len(b)-1]...) // "messages" is always present, so a member precedes
	for _, k := range keys {
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		out = append(out, ',')
		out = append(out, kb...)
		out = append(out, ':')
		out = append(out, r.Extra[k]...)
	}
	return append(out, '}'), nil
}

type Message struct {
	Role       string         `json:"role"`
	Content    MessageContent `json:"content"`
	Refusal    *string        `json:"refusal,omitempty"`
	Name       string         `json:"name,omitempty"`
	ToolCalls  []ToolCall     `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

// MessageContent is a message's content: a string, null, or an array of parts.
type MessageContent struct {
	Text  string
	Parts []ContentPart
	kind  uint8 // contentNull, contentText, contentParts
}

const (
	contentNull uint8 = iota
	contentText
	contentParts
)

func (c *MessageContent) UnmarshalJSON(data []byte) error {
	switch {
	case len(data) == 0 || data[0] == 'n':
		*c = MessageContent{}
		return nil
	case data[0] == '"':
		c.kind, c.Parts = contentText, nil
		return json.Unmarshal(data, &c.Text)
	case data[0] == '[':
		c.kind, c.Text = contentParts, ""
		return json.Unmarshal(data, &c.Parts)
	}
	return fmt.Errorf("message content must be a string, null or an array of parts")
}

func (c MessageContent) MarshalJSON() ([]byte, error) {
	switch c.kind {
	case contentText:
		return json.Marshal(c.Text)
	case contentParts:
		return json.Marshal(c.Parts)
	}
	return []byte("null"), nil
}

type ContentPart struct {
	Type       string          `json:"type"`
	Text       string          `json:"text,omitempty"`
	ImageURL   *ImageURL       `json:"image_url,omitempty"`
	InputAudio json.RawMessage `json:"input_audio,omitempty"`
	File       json.RawMessage `json:"file,omitempty"`
}

type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

type ToolCall struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function"`
}

type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// ChatResponse is the typed answer: unknown upstream members are dropped, "provider" is added.
type ChatResponse struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	Provider          string   `json:"provider"`
	SystemFingerprint string   `json:"system_fingerprint,omitempty"`
	ServiceTier       string   `json:"service_tier,omitempty"`
	Choices           []Choice `json:"choices"`
	Usage             Usage    `json:"usage"`
}

type Choice struct {
	Index        int             `json:"index"`
	Message      Message         `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
	FinishReason string          `json:"finish_reason"`
}

type Usage struct {
	PromptTokens            int                      `json:"prompt_tokens"`
	CompletionTokens        int                      `json:"completion_tokens"`
	TotalTokens             int                      `json:"total_tokens"`
	PromptTokensDetails     *PromptTokensDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
}

type PromptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
	AudioTokens  int `json:"audio_tokens"`
}

type CompletionTokensDetails struct {
	ReasoningTokens          int `json:"reasoning_tokens"`
	AudioTokens              int `json:"audio_tokens"`
	AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
	RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
}

// ---------------------------------------------------------------------------------------------
// Errors in the OpenAI shape

type GatewayError struct {
	Status  int
	Type    string
	Message string
	Param   json.RawMessage
	Code    json.RawMessage
}

func (e *GatewayError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message) }

type errorBody struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Param   json.RawMessage `json:"param"`
	Code    json.RawMessage `json:"code"`
}

func writeError(w http.ResponseWriter, e *GatewayError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(struct {
		Error errorBody `json:"error"`
	}{errorBody{Message: e.Message, Type: e.Type, Param: e.Param, Code: e.Code}})
}

func newError(status int, typ, message, code string) *GatewayError {
	e := &GatewayError{Status: status, Type: typ, Message: message}
	if code != "" {
		e.Code, _ = json.Marshal(code)
	}
	return e
}

func errorTypeFor(status int) string {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "authentication_error"
	case status == http.StatusNotFound:
		return "not_found_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status < 500:
		return "invalid_request_error"
	}
	return "provider_error"
}

// upstreamError turns an upstream error answer into a GatewayError with the upstream's status.
func upstreamError(status int, body []byte) *GatewayError {
	var env struct {
		Error *errorBody `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && env.Error != nil && env.Error.Message != "" {
		typ := env.Error.Type
		if typ == "" {
			typ = errorTypeFor(status)
		}
		return &GatewayError{Status: status, Type: typ, Message: env.Error.Message, Param: env.Error.Param, Code: env.Error.Code}
	}
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &GatewayError{Status: status, Type: errorTypeFor(status), Message: msg}
}

// ---------------------------------------------------------------------------------------------
// Model registry and router

type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type ModelWithProvider struct {
	ProviderName string
	Model        Model
}

type ModelRegistry struct {
	mu     sync.RWMutex
	byName map[string]string // model id -> provider name
	sorted []ModelWithProvider
}

func (r *ModelRegistry) Register(provider string, models []Model) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range models {
		if _, dup := r.byName[m.ID]; !dup {
			r.byName[m.ID] = provider
		}
		r.sorted = append(r.sorted, ModelWithProvider{ProviderName: provider, Model: m})
	}
	sort.Slice(r.sorted, func(i, j int) bool { return r.sorted[i].Model.ID < r.sorted[j].Model.ID })
}

func (r *ModelRegistry) GetProviderName(model string) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.byName[model]
	return p, ok
}

// ListModelsWithProvider returns a copy of the sorted list (callers may keep it).
func (r *ModelRegistry) ListModelsWithProvider() []ModelWithProvider {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]ModelWithProvider(nil), r.sorted...)
}

type Selector struct {
	Provider string
	Model    string
}

var errMissingModel = newError(http.StatusBadRequest, "invalid_request_error", "model is required", "")

// ParseModelSelector splits "provider/model" (or takes the provider from the provider field).
func ParseModelSelector(model, provider string) (Selector, error) {
	model, provider = strings.TrimSpace(model), strings.TrimSpace(provider)
	if model == "" {
		return Selector{}, errMissingModel
	}
	if provider == "" {
		if i := strings.IndexByte(model, '/'); i > 0 && i < len(model)-1 {
			return Selector{Provider: model[:i], Model: model[i+1:]}, nil
		}
		return Selector{Model: model}, nil
	}
	return Selector{Provider: provider, Model: strings.TrimPrefix(model, provider+"/")}, nil
}

type Router struct {
	registry  *ModelRegistry
	providers map[string]*Provider // fixed after startup
}

type ResolvedModel struct {
	ProviderName string
	Model        string
}

func (rt *Router) ResolveModel(sel Selector) (ResolvedModel, error) {
	if sel.Provider != "" {
		if _, ok := rt.providers[sel.Provider]; ok {
			return rt.resolveQualifiedSelector(sel)
		}
		sel = Selector{Model: sel.Provider + "/" + sel.Model} // not a provider: a model name with a slash
	}
	if p, ok := rt.registry.GetProviderName(sel.Model); ok {
		return ResolvedModel{ProviderName: p, Model: sel.Model}, nil
	}
	return ResolvedModel{}, modelNotFound(sel)
}

func (rt *Router) resolveQualifiedSelector(sel Selector) (ResolvedModel, error) {
	models := rt.registry.ListModelsWithProvider()
	for i := range models {
		if models[i].ProviderName == sel.Provider && models[i].Model.ID == sel.Model {
			return ResolvedModel{ProviderName: sel.Provider, Model: sel.Model}, nil
		}
	}
	return ResolvedModel{}, modelNotFound(sel)
}

func modelNotFound(sel Selector) error {
	name := sel.Model
	if sel.Provider != "" {
		name = sel.Provider + "/" + sel.Model
	}
	return newError(http.StatusBadRequest, "invalid_request_error", "unsupported model: "+name, "model_not_found")
}

// ---------------------------------------------------------------------------------------------
// Upstream provider: shared client, circuit breaker, retries

type CircuitBreaker struct {
	mu               sync.Mutex
	state            uint8 // breakerClosed, breakerOpen, breakerHalfOpen
	failures         int
	successes        int
	openedAt         time.Time
	failureThreshold int
	successThreshold int
	openTimeout      time.Duration
}

const (
	breakerClosed uint8 = iota
	breakerOpen
	breakerHalfOpen
)

func (b *CircuitBreaker) acquire() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == breakerOpen {
		if time.Since(b.openedAt) < b.openTimeout {
			return false
		}
		b.state, b.successes = breakerHalfOpen, 0
	}
	return true
}

func (b *CircuitBreaker) RecordSuccess() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures = 0
	if b.state == breakerHalfOpen {
		b.successes++
		if b.successes >= b.successThreshold {
			b.state = breakerClosed
		}
	}
}

func (b *CircuitBreaker) RecordFailure() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures++
	if b.state == breakerHalfOpen || b.failures >= b.failureThreshold {
		b.state, b.openedAt = breakerOpen, time.Now()
	}
}

// newHTTPClient: GoModel's httpclient.DefaultConfig.
func newHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Timeout: 600 * time.Second,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   100,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 600 * time.Second,
			ExpectContinueTimeout: 1 * time.Second,
			ForceAttemptHTTP2:     true,
		},
	}
}

type Provider struct {
	name       string
	baseURL    string
	apiKey     string
	client     *http.Client
	breaker    *CircuitBreaker
	maxRetries int
}

// chatRequestBody: reasoning models take max_completion_tokens and no temperature.
func chatRequestBody(req *ChatRequest) *ChatRequest {
	m := req.Model
	if !(strings.HasPrefix(m, "o1") || strings.HasPrefix(m, "o3") || strings.HasPrefix(m, "o4") || strings.HasPrefix(m, "gpt-5")) {
		return req
	}
	out := *req
	if out.MaxTokens != nil && out.MaxCompletionTokens == nil {
		out.MaxCompletionTokens, out.MaxTokens = out.MaxTokens, nil
	}
	out.Temperature = nil
	return &out
}

func (p *Provider) buildRequest(ctx context.Context, payload *ChatRequest, requestID string) (*http.Request, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, newError(http.StatusBadRequest, "invalid_request_error", "cannot encode request: "+err.Error(), "")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.baseURL+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.apiKey)
	if requestID != "" {
		req.Header.Set("X-Client-Request-Id", requestID)
	}
	return req, nil
}

func retryableStatus(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusBadGateway ||
		status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

var errBreakerOpen = newError(http.StatusServiceUnavailable, "provider_error", "circuit breaker is open for provider openai", "")

// Do sends a non-streaming request with retries and returns the upstream's 2xx body.
// send makes one upstream call through the breaker; a transport error counts against it.
// transient: the call may be retried (it failed on the wire, not on the breaker or the request).
func (p *Provider) send(ctx context.Context, payload *ChatRequest, requestID string) (resp *http.Response, transient bool, err error) {
	if !p.breaker.acquire() {
		return nil, false, errBreakerOpen
	}
	req, err := p.buildRequest(ctx, payload, requestID)
	if err != nil {
		return nil, false, err
	}
	resp, err = p.client.Do(req)
	if err != nil {
		p.breaker.RecordFailure()
		return nil, ctx.Err() == nil, newError(http.StatusBadGateway, "provider_error", "upstream request failed: "+err.Error(), "")
	}
	return resp, false, nil
}

// record tells the breaker how an answered call went: a 5xx is a failure.
func (p *Provider) record(status int) {
	if status >= 500 {
		p.breaker.RecordFailure()
	} else {
		p.breaker.RecordSuccess()
	}
}

func (p *Provider) Do(ctx context.Context, payload *ChatRequest, requestID string) ([]byte, error) {
	var lastErr error
	for attempt := 0; attempt <= p.maxRetries; attempt++ {
		if attempt > 0 {
			backoff := time.Second << (attempt - 1)
			backoff += time.Duration(mrand.Float64() * 0.1 * float64(backoff))
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(backoff):
			}
		}
		resp, transient, err := p.send(ctx, payload, requestID)
		if err != nil {
			if !transient {
				return nil, err
			}
			lastErr = err
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			p.breaker.RecordFailure()
			lastErr = newError(http.StatusBadGateway, "provider_error", "upstream body: "+err.Error(), "")
			continue
		}
		p.record(resp.StatusCode)
		if resp.StatusCode >= 400 {
			lastErr = upstreamError(resp.StatusCode, body)
			if retryableStatus(resp.StatusCode) {
				continue
			}
			return nil, lastErr
		}
		return body, nil
	}
	return nil, lastErr
}

// DoStream sends a streaming request (no retries) and returns the upstream body on 2xx.
func (p *Provider) DoStream(ctx context.Context, payload *ChatRequest, requestID string) (io.ReadCloser, error) {
	resp, _, err := p.send(ctx, payload, requestID)
	if err != nil {
		return nil, err
	}
	p.record(resp.StatusCode)
	if resp.StatusCode >= 400 {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, upstreamError(resp.StatusCode, body)
	}
	return resp.Body, nil
}

func (p *Provider) ChatCompletion(ctx context.Context, req *ChatRequest, requestID string) (*ChatResponse, error) {
	body, err := p.Do(ctx, chatRequestBody(req), requestID)
	if err != nil {
		return nil, err
	}
	resp := new(ChatResponse)
	if err := json.Unmarshal(body, resp); err != nil {
		return nil, newError(http.StatusBadGateway, "provider_error", "invalid upstream JSON: "+err.Error(), "")
	}
	return resp, nil
}

func (p *Provider) StreamChatCompletion(ctx context.Context, req *ChatRequest, requestID string) (io.ReadCloser, error) {
	streaming := *req // WithStreaming: shallow copy with Stream set
	streaming.Stream = true
	return p.DoStream(ctx, chatRequestBody(&streaming), requestID)
}

// fetchModels: GET <base>/models once at startup.
func fetchModels(client *http.Client, base, apiKey string) ([]Model, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/models", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/models: %s", base, resp.Status)
	}
	var list struct {
		Data []Model `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, fmt.Errorf("GET %s/models: %w", base, err)
	}
	return list.Data, nil
}

// ---------------------------------------------------------------------------------------------
// Streaming

type bufferedReadCloser struct {
	*bufio.Reader
	io.Closer
}

// ensureChatCompletionSSE peeks the first non-space byte of the upstream body: a JSON object means
// the upstream ignored stream:true, and it is turned into one SSE chunk and [DONE]; anything else
// passes through as it is.
func ensureChatCompletionSSE(body io.ReadCloser) io.ReadCloser {
	br := bufio.NewReaderSize(body, sseProbeBufSize)
	for n := 1; n <= sseProbeBufSize; n++ {
		peeked, _ := br.Peek(n)
		if len(peeked) < n {
			break // EOF or error: the relay sees it on its first Read
		}
		switch c := peeked[n-1]; c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			raw, err := io.ReadAll(br)
			body.Close()
			if err != nil {
				return io.NopCloser(bytes.NewReader(nil))
			}
			return io.NopCloser(bytes.NewReader(jsonToSSE(raw)))
		}
		break
	}
	return bufferedReadCloser{Reader: br, Closer: body}
}

func jsonToSSE(raw []byte) []byte {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return append(append([]byte("data: "), bytes.TrimSpace(raw)...), "\n\ndata: [DONE]\n\n"...)
	}
	m["object"] = "chat.completion.chunk"
	if choices, ok := m["choices"].([]any); ok {
		for _, c := range choices {
			if choice, ok := c.(map[string]any); ok {
				if msg, ok := choice["message"]; ok {
					choice["delta"] = msg
					delete(choice, "message")
				}
			}
		}
	}
	chunk, err := json.Marshal(m)
	if err != nil {
		chunk = bytes.TrimSpace(raw)
	}
	out := make([]byte, 0, len(chunk)+32)
	out = append(out, "data: "...)
	out = append(out, chunk...)
	return append(out, "\n\ndata: [DONE]\n\n"...)
}

var streamBufPool = sync.Pool{New: func() any { b := make([]byte, streamBufSize); return &b }}

// flushStream relays the stream byte for byte, flushing after every Read.
func flushStream(w http.ResponseWriter, stream io.Reader) error {
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	bp := streamBufPool.Get().(*[]byte)
	defer streamBufPool.Put(bp)
	buf := *bp
	for {
		n, err := stream.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// ---------------------------------------------------------------------------------------------
// Handler

type responseCache interface {
	Get(ctx context.Context, key []byte) []byte
}

// noopCache: caching off still gives the handler a non-nil cache, so the key is still marshalled.
type noopCache struct{}

func (noopCache) Get(context.Context, []byte) []byte { return nil }

type Handler struct {
	router *Router
	cache  responseCache
	logger *slog.Logger
}

func (h *Handler) ChatCompletion(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	plan, _ := ctx.Value(planKey).(*ExecutionPlan)
	snap, _ := ctx.Value(snapshotKey).(*RequestSnapshot)
	if plan == nil || snap == nil {
		writeError(w, newError(http.StatusInternalServerError, "server_error", "request was not planned", ""))
		return
	}
	req := new(ChatRequest)
	if err := json.Unmarshal(snap.Body, req); err != nil {
		writeError(w, newError(http.StatusBadRequest, "invalid_request_error", "invalid request body: "+err.Error(), ""))
		return
	}
	if len(req.Messages) == 0 {
		writeError(w, newError(http.StatusBadRequest, "invalid_request_error", "messages is required", ""))
		return
	}
	// forwardChatRequest: the resolved model upstream, the provider hint dropped.
	req.Model, req.Provider = plan.Model, ""
	provider := h.router.providers[plan.ProviderName]
	if provider == nil {
		writeError(w, newError(http.StatusBadRequest, "invalid_request_error", "no provider "+plan.ProviderName, ""))
		return
	}
	if h.cache != nil {
		key, err := json.Marshal(req)
		if err == nil {
			if hit := h.cache.Get(ctx, key); hit != nil {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(hit)
				return
			}
		}
	}
	if req.Stream {
		h.stream(w, r, provider, req, plan.RequestID)
		return
	}
	resp, err := provider.ChatCompletion(ctx, req, plan.RequestID)
	if err != nil {
		h.fail(w, err)
		return
	}
	if resp.Model == "" { // EnsureModel
		resp.Model = req.Model
	}
	resp.Provider = provider.name
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(resp)
}

func (h *Handler) stream(w http.ResponseWriter, r *http.Request, provider *Provider, req *ChatRequest, requestID string) {
	body, err := provider.StreamChatCompletion(r.Context(), req, requestID)
	if err != nil {
		h.fail(w, err)
		return
	}
	stream := ensureChatCompletionSSE(body)
	defer stream.Close()
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("Connection", "keep-alive")
	hdr.Set("X-Request-ID", requestID)
	w.WriteHeader(http.StatusOK)
	_ = flushStream(w, stream)
}

func (h *Handler) fail(w http.ResponseWriter, err error) {
	var gerr *GatewayError
	if errors.As(err, &gerr) {
		writeError(w, gerr)
		return
	}
	writeError(w, newError(http.StatusBadGateway, "provider_error", err.Error(), ""))
}

// ---------------------------------------------------------------------------------------------
// Middleware (outermost first: access log, Recover, body limit, request id, snapshot, auth, planning)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	snapshotKey
	planKey
)

type RequestSnapshot struct {
	Method       string
	Path         string
	RouteParams  map[string]string
	Query        map[string][]string
	Headers      http.Header
	TraceHeaders map[string]string
	Body         []byte
	RequestID    string
}

type ExecutionPlan struct {
	RequestID    string
	Endpoint     string
	Mode         string
	Stream       bool
	Selector     Selector
	ProviderName string
	ProviderType string
	Model        string
	CreatedAt    time.Time
}

func isModelInteraction(path string) bool { return strings.HasPrefix(path, "/v1/") }

type responseRecorder struct {
	http.ResponseWriter
	status    int
	size      int64
	committed bool
}

func (w *responseRecorder) WriteHeader(code int) {
	if w.committed {
		return
	}
	w.status, w.committed = code, true
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseRecorder) Write(b []byte) (int, error) {
	if !w.committed {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.size += int64(n)
	return n, err
}

func (w *responseRecorder) Flush() {
	if !w.committed {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *responseRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func realIP(r *http.Request) string {
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		first, _, _ := strings.Cut(xff, ",")
		return strings.TrimSpace(first)
	}
	if xr := r.Header.Get("X-Real-Ip"); xr != "" {
		return xr
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func accessLog(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &responseRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		if !isModelInteraction(r.URL.Path) {
			return
		}
		bytesIn := r.Header.Get("Content-Length")
		if bytesIn == "" {
			bytesIn = "0"
		}
		logger.LogAttrs(r.Context(), slog.LevelInfo, "REQUEST",
			slog.String("method", r.Method),
			slog.String("uri", r.RequestURI),
			slog.Int("status", rec.status),
			slog.Duration("latency", time.Since(start)),
			slog.String("host", r.Host),
			slog.String("bytes_in", bytesIn),
			slog.Int64("bytes_out", rec.size),
			slog.String("user_agent", r.UserAgent()),
			slog.String("remote_ip", realIP(r)),
			slog.String("request_id", rec.Header().Get("X-Request-ID")),
		)
	})
}

func recoverMiddleware(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			logger.Error("panic recovered", "error", fmt.Sprint(rec), "stack", string(debug.Stack()))
			if rr, ok := w.(*responseRecorder); ok && rr.committed {
				return
			}
			writeError(w, newError(http.StatusInternalServerError, "server_error", "internal server error", ""))
		}()
		next.ServeHTTP(w, r)
	})
}

var errTooLarge = newError(http.StatusRequestEntityTooLarge, "invalid_request_error", "request body too large", "")

func bodyLimit(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			writeError(w, errTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// newUUIDv4: 16 random bytes, version 4, RFC 4122 variant.
func newUUIDv4() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if id == "" {
			id = newUUIDv4()
			r.Header.Set("X-Request-ID", id)
		}
		w.Header().Set("X-Request-ID", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

var traceHeaderNames = []string{"Traceparent", "Tracestate", "Baggage"}

func snapshot(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isModelInteraction(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeError(w, errTooLarge)
			} else {
				writeError(w, newError(http.StatusBadRequest, "invalid_request_error", "cannot read body: "+err.Error(), ""))
			}
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var trace map[string]string
		for _, name := range traceHeaderNames {
			if v := r.Header.Get(name); v != "" {
				if trace == nil {
					trace = make(map[string]string, len(traceHeaderNames))
				}
				trace[name] = v
			}
		}
		id, _ := r.Context().Value(requestIDKey).(string)
		snap := &RequestSnapshot{
			Method:       r.Method,
			Path:         r.URL.Path,
			Query:        r.URL.Query(),
			Headers:      r.Header.Clone(),
			TraceHeaders: trace,
			Body:         body,
			RequestID:    id,
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), snapshotKey, snap)))
	})
}

func auth(key string, next http.Handler) http.Handler {
	if key == "" {
		return next
	}
	want := []byte(key)
	unauthorized := newError(http.StatusUnauthorized, "authentication_error", "invalid or missing API key", "invalid_api_key")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(token), want) != 1 {
			writeError(w, unauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type selectorPeek struct {
	Model    string `json:"model"`
	Provider string `json:"provider"`
	Stream   bool   `json:"stream"`
}

func planning(router *Router, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		snap, _ := r.Context().Value(snapshotKey).(*RequestSnapshot)
		if r.Method != http.MethodPost || r.URL.Path != chatPath || snap == nil {
			next.ServeHTTP(w, r)
			return
		}
		var peek selectorPeek
		if err := json.Unmarshal(snap.Body, &peek); err != nil {
			writeError(w, newError(http.StatusBadRequest, "invalid_request_error", "invalid JSON body: "+err.Error(), ""))
			return
		}
		sel, err := ParseModelSelector(peek.Model, peek.Provider)
		if err == nil {
			var resolved ResolvedModel
			if resolved, err = router.ResolveModel(sel); err == nil {
				plan := &ExecutionPlan{
					RequestID:    snap.RequestID,
					Endpoint:     "chat_completions",
					Mode:         "translated",
					Stream:       peek.Stream,
					Selector:     sel,
					ProviderName: resolved.ProviderName,
					ProviderType: resolved.ProviderName,
					Model:        resolved.Model,
					CreatedAt:    time.Now(),
				}
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), planKey, plan)))
				return
			}
		}
		var gerr *GatewayError
		if errors.As(err, &gerr) {
			writeError(w, gerr)
			return
		}
		writeError(w, newError(http.StatusBadRequest, "invalid_request_error", err.Error(), ""))
	})
}

// ---------------------------------------------------------------------------------------------

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	upstream := flag.String("upstream", "", "upstream base URL, e.g. http://127.0.0.1:9000/v1")
	key := flag.String("key", "", "bearer key clients must send (none: no check)")
	upstreamKey := flag.String("upstream-key", "", "bearer key sent upstream")
	retries := flag.Int("retries", 3, "retries on 429/502/503/504 and transport errors (GoModel's default 3)")
	breakerFailures := flag.Int("breaker-failures", 5, "failures that open the circuit breaker (GoModel's default 5)")
	flag.Parse()

	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(logger)
	base := strings.TrimSuffix(*upstream, "/")
	if base == "" {
		logger.Error("-upstream is required")
		os.Exit(2)
	}

	client := newHTTPClient()
	provider := &Provider{
		name:       openAIProvider,
		baseURL:    base,
		apiKey:     *upstreamKey,
		client:     client,
		breaker:    &CircuitBreaker{failureThreshold: *breakerFailures, successThreshold: 2, openTimeout: 30 * time.Second},
		maxRetries: max(*retries, 0),
	}
	registry := &ModelRegistry{byName: make(map[string]string)}
	models, err := fetchModels(client, base, *upstreamKey)
	if err != nil || len(models) == 0 {
		logger.Warn("model list unavailable, registering the fallback model", "error", fmt.Sprint(err), "model", fallbackModel)
		models = []Model{{ID: fallbackModel, Object: "model", OwnedBy: openAIProvider}}
	}
	registry.Register(openAIProvider, models)
	logger.Info("models registered", "provider", openAIProvider, "count", len(models))
	router := &Router{registry: registry, providers: map[string]*Provider{openAIProvider: provider}}
	h := &Handler{router: router, cache: noopCache{}, logger: logger}

	mux := http.NewServeMux()
	mux.HandleFunc("POST "+chatPath, h.ChatCompletion)
	var handler http.Handler = mux
	handler = planning(router, handler)
	handler = auth(*key, handler)
	handler = snapshot(handler)
	handler = requestID(handler)
	handler = bodyLimit(bodyLimitBytes, handler)
	handler = recoverMiddleware(logger, handler)
	handler = accessLog(logger, handler)

	srv := &http.Server{Addr: *addr, Handler: handler}
	logger.Info("gomodel-like listening", "addr", *addr, "upstream", base)
	if err := srv.ListenAndServe(); err != nil {
		logger.Error("server stopped", "error", err.Error())
		os.Exit(1)
	}
}
