# The two commands of the README's quick start: `make demo` and `make test`. Each installs what it needs.
.PHONY: install build demo test lint bench clean

NODE_MODULES_STAMP := node_modules/.install-stamp

install: $(NODE_MODULES_STAMP)

$(NODE_MODULES_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# tsc is also the type check: it exits non-zero on any type error.
build: install
	npx tsc -p tsconfig.json

lint: install
	npx eslint .

# The main job on the embedded default (see README).
demo: build
	bash scripts/demo.sh

# Lint, type check and every test (unit tests and the testbed tests over real sshd).
test: build lint
	node scripts/run-tests.mjs

clean:
	rm -rf dist node_modules
