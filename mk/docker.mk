# make test-docker: builds the image and runs it and docker-compose.yml with
# a Docker engine the test starts itself (scripts/docker-test.sh says how;
# root only). Not part of make test, which checks the files without an
# engine (tests/compose.test.sh); .ci/run runs both.
.PHONY: test-docker
test-docker:
	@scripts/docker-test.sh
