# The endpoint picker alone, as upstream's image: the entrypoint takes upstream's args.
#   docker build -t inference-gateway .
#   docker run inference-gateway --pool-name NAME --pool-namespace NS --config-file F
# The package installs without the [lab] extra (Envoy binary, plotting), so the image holds
# the EPP and its dependencies only. It runs as a numeric non-root user on a read-only root:
# the self-signed TLS pair lives in memory, nothing is written to disk.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && rm -rf /app/src

# A numeric non-root user, so that runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 9002 9003 9090
ENTRYPOINT ["inference-gateway-epp"]
