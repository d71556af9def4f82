package routevars

import (
	"context"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestHelpCenterMark(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]any // nil: no Caddy variable table
		mark bool
		want bool
	}{
		{"marked", map[string]any{}, true, true},
		{"not marked", map[string]any{}, false, false},
		{"set by the vars directive as text", map[string]any{HelpCenter: "true"}, false, false},
		{"no variable table", nil, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.vars != nil {
				ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, tt.vars)
			}
			if tt.mark {
				MarkHelpCenter(ctx)
			}
			if got := ServedByHelpCenter(ctx); got != tt.want {
				t.Errorf("ServedByHelpCenter = %v, want %v", got, tt.want)
			}
		})
	}
}
