from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

from tests.apps.run_apps import answer


@csrf_exempt
def everything(request: HttpRequest) -> HttpResponse:
    status, data = answer(request.method or "", request.path, request.body)
    return HttpResponse(data, status=status, content_type="text/plain")


urlpatterns = [re_path(r"", everything)]
