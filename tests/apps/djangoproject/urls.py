from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from djangoproject import views

urlpatterns = [
    path("", views.hello),
    path("query", views.query),
    path("json", csrf_exempt(views.json_echo)),
    path("form", csrf_exempt(views.form)),
    path("cookie/set", views.cookie_set),
    path("cookie/get", views.cookie_get),
    path("redirect", views.to_root),
    path("error", views.error),
    path("upload", csrf_exempt(views.upload)),
    path("file", csrf_exempt(views.file)),
    path("download", views.download),
    path("stream", views.stream),
]
