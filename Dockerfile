# Residual Lab, CPU-only: docker build -t residual-lab . && docker run -p 8000:8000 residual-lab
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 lab
WORKDIR /srv/residual-lab

# The same two install steps as `make install`; the extra index holds the
# CPU-only torch wheel, so the image carries no CUDA libraries.
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install -e .
COPY static ./static
COPY templates ./templates

USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["residual-lab", "serve", "--host", "0.0.0.0", "--port", "8000"]
