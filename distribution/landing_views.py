"""GET /: a small page linking what runs on this port, instead of a 404."""

from django.shortcuts import render


def landing_view(request):
    return render(request, "distribution/landing.html")
