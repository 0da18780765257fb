package githubsim_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/garo-dev/garo/githubsim"
)

// answerProbe tells when the first byte of an answer (its status) leaves the handler.
type answerProbe struct {
	http.ResponseWriter
	once     sync.Once
	onHeader func()
}

func (p *answerProbe) WriteHeader(code int) {
	p.once.Do(p.onHeader)
	p.ResponseWriter.WriteHeader(code)
}

func (p *answerProbe) Write(b []byte) (int, error) {
	p.once.Do(p.onHeader)
	return p.ResponseWriter.Write(b)
}

// A call is in Requests before its answer leaves the simulator: a client that has its
// answer finds its call there (recorded after the handler returned, the last call of a
// listing was missing when a loaded machine let the client read Requests first).
func TestRequestRecordedBeforeItsAnswer(t *testing.T) {
	e := newEnv(t, githubsim.Options{})
	var mu sync.Mutex
	var atAnswer []int // len(Requests()) as each answer's status was written
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.sim.ServeHTTP(&answerProbe{ResponseWriter: w, onHeader: func() {
			n := len(e.sim.Requests())
			mu.Lock()
			atAnswer = append(atAnswer, n)
			mu.Unlock()
		}}, r)
	}))
	t.Cleanup(srv.Close)
	for _, path := range []string{"/rate_limit", "/repos/acme/api/actions/runners", "/no/such/route"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if len(atAnswer) != 3 || atAnswer[0] != 1 || atAnswer[1] != 2 || atAnswer[2] != 3 {
		t.Errorf("calls recorded as the answers left = %v, want [1 2 3]", atAnswer)
	}
	if got := len(e.sim.Requests()); got != 3 {
		t.Errorf("%d calls recorded, want 3", got)
	}
}
