// Command funclen reports the Go files longer than -file lines and the
// functions longer than -func lines (from the line of func to the closing
// brace), under the folders given (default "."). It exits 1 when it reports
// any, so that a caller can hold one package to the limits:
//
//	go run ./.ci/funclen pkg/decompress
//	go run ./.ci/funclen -tests=false cmd pkg internal
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	maxFile := flag.Int("file", 450, "most lines in a file")
	maxFunc := flag.Int("func", 60, "most lines in a function")
	tests := flag.Bool("tests", true, "check _test.go files too")
	flag.Parse()
	roots := flag.Args()
	if len(roots) == 0 {
		roots = []string{"."}
	}
	found := 0
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() {
				if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(name, ".go") || !*tests && strings.HasSuffix(name, "_test.go") {
				return nil
			}
			n, err := check(path, *maxFile, *maxFunc)
			found += n
			return err
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "funclen:", err)
			os.Exit(2)
		}
	}
	if found > 0 {
		os.Exit(1)
	}
}

// check prints what in the file at path is over the limits and returns how
// many it printed.
func check(path string, maxFile, maxFunc int) (int, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return 0, err
	}
	found := 0
	if n := fset.File(f.Pos()).LineCount(); n > maxFile {
		fmt.Printf("%s: %d lines (limit %d)\n", path, n, maxFile)
		found++
	}
	ast.Inspect(f, func(n ast.Node) bool {
		var body *ast.BlockStmt
		name := "func literal"
		switch fn := n.(type) {
		case *ast.FuncDecl:
			body, name = fn.Body, fn.Name.Name
			if fn.Recv != nil && len(fn.Recv.List) > 0 {
				name = recv(fn.Recv.List[0].Type) + "." + name
			}
		case *ast.FuncLit:
			body = fn.Body
		}
		if body == nil {
			return true
		}
		start, end := fset.Position(n.Pos()), fset.Position(body.End())
		if lines := end.Line - start.Line + 1; lines > maxFunc {
			fmt.Printf("%s:%d: %s: %d lines (limit %d)\n", path, start.Line, name, lines, maxFunc)
			found++
		}
		return true
	})
	return found, nil
}

// recv names a method's receiver type.
func recv(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return recv(t.X)
	case *ast.IndexExpr:
		return recv(t.X)
	case *ast.IndexListExpr:
		return recv(t.X)
	case *ast.Ident:
		return t.Name
	}
	return "?"
}
