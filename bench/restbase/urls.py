from django.urls import path

from bench.restbase import views
from tutoring.urls import urlpatterns as product

urlpatterns = [
    path("bench/baseline/sessions/<uuid:session_id>/participants", views.BaselineParticipants.as_view()),
    path("bench/baseline/noquery", views.BaselineNoQuery.as_view()),
    *product,
]
