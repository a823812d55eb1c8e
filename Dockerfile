# The cepflow image: the `cepflow` command, the Bytewax dataflow and the HTTP API with its console
# (docker-compose.yml runs it as the one-shot `migrate` and `recovery-init` services, as the two
# processes of the engine cluster and as the `api` service).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package needs (no .venv, .stack or tests in the build).
COPY pyproject.toml README.md ./
COPY rules ./rules
COPY storage ./storage
COPY dataflow ./dataflow
COPY actions ./actions
COPY cepflow ./cepflow
RUN pip install .

COPY stack/docker/engine-entrypoint.sh /usr/local/bin/cepflow-engine
RUN chmod 0755 /usr/local/bin/cepflow-engine \
    && useradd --create-home --uid 10001 cepflow \
    && mkdir -p /state \
    && chown cepflow:cepflow /state

USER cepflow
VOLUME ["/state"]
CMD ["cepflow-engine"]
