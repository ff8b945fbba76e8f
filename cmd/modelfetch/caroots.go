package main

// The model-downloader stage runs this binary in a FROM scratch image, which
// has no CA bundle. The fallback roots are used only when the system has none.
import _ "golang.org/x/crypto/x509roots/fallback"
