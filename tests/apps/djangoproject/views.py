import json

from django.http import HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse


def hello(request):
    return HttpResponse("hello", content_type="text/plain")


def query(request):
    return JsonResponse(dict(request.GET.items()))


def json_echo(request):
    return JsonResponse({"got": json.loads(request.body)})


def form(request):
    return JsonResponse(dict(request.POST.items()))


def cookie_set(request):
    r = HttpResponse("set", content_type="text/plain")
    r.set_cookie("flavour", "oat")
    return r


def cookie_get(request):
    return HttpResponse(request.COOKIES.get("flavour", "none"), content_type="text/plain")


def to_root(request):
    return HttpResponseRedirect("/")


def error(request):
    raise ValueError("django view failed")


def upload(request):
    total = 0
    while True:
        chunk = request.read(65536)
        if not chunk:
            break
        total += len(chunk)
    return JsonResponse({"length": total})


def file(request):
    f = request.FILES["doc"]
    return JsonResponse({"name": f.name, "length": len(f.read())})


def download(request):
    n = int(request.GET["n"])

    def pieces():
        sent = 0
        while sent < n:
            piece = b"d" * min(65536, n - sent)
            sent += len(piece)
            yield piece

    return StreamingHttpResponse(pieces(), content_type="application/octet-stream")


def stream(request):
    return StreamingHttpResponse((f"line {i}\n" for i in range(5)), content_type="text/plain")
