# The two commands of README.md: `make example` builds the example workspace
# end to end; `make test` passes the tests. Both start the local stack
# (buildkitd, a loopback registry, a TLS dockerd) themselves.
GO ?= go
IMGRAPH_REGISTRY_PORT ?= 5000
REGISTRY ?= 127.0.0.1:$(IMGRAPH_REGISTRY_PORT)
STACK_ENV = eval "$$(hack/local-stack.sh env)"

.PHONY: test unit fuzz bench build stack stack-down example

test: stack
	$(GO) vet ./...
	$(STACK_ENV) && $(GO) test -count=1 -timeout 30m ./...
	$(MAKE) fuzz

# Unit tests only: no daemons, integration tests skip themselves.
unit:
	$(GO) test -count=1 ./...

# Each fuzz target runs briefly in CI; run longer by hand with FUZZTIME=5m.
FUZZTIME ?= 15s
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzLoad$$' -fuzztime=$(FUZZTIME) ./engine/load

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./engine/...

build:
	$(GO) build -o bin/imgraph ./cmd/imgraph

stack:
	hack/local-stack.sh up --with-dockerd

stack-down:
	hack/local-stack.sh down

# No Windows builder runs here, so the Windows variants are reported
# "not built" and the lists are published without them (and say so).
example: build stack
	$(STACK_ENV) && bin/imgraph build //... --push --allow-missing-platforms --registry $(REGISTRY)
