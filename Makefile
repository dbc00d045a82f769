# Minimal Makefile (owned by the lead; extend freely).
GO ?= go
IMGRAPH_REGISTRY_PORT ?= 5000
REGISTRY ?= 127.0.0.1:$(IMGRAPH_REGISTRY_PORT)

.PHONY: test build stack stack-down example

test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	# Fuzz placeholder: once fuzz targets exist, run each briefly, e.g.
	#   $(GO) test -run='^$$' -fuzz='^FuzzXxx$$' -fuzztime=20s ./engine/...

build:
	$(GO) build -o bin/imgraph ./cmd/imgraph

stack:
	hack/local-stack.sh up --with-dockerd

stack-down:
	hack/local-stack.sh down

# The CLI may not support this yet.
example: build stack
	eval "$$(hack/local-stack.sh env)" && bin/imgraph build //... --push --registry $(REGISTRY)
