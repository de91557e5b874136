# The two commands of the README. Both install whatever is missing first (scripts/bootstrap.sh).
.PHONY: run test

run:
	scripts/bootstrap.sh
	.venv/bin/videoident serve

test:
	scripts/test.sh
