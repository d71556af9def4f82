package injector

// Temporary: keeps the library's dependencies in go.mod until the code that
// uses them lands. Remove when merging.
import (
	_ "github.com/golang-jwt/jwt/v5"
	_ "golang.org/x/net/html"
	_ "golang.org/x/net/publicsuffix"
)
