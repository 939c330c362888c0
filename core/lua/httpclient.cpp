#include "httpclient.h"

#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>

std::shared_ptr<HttpClient> HttpClient::forThisThread()
{
    static thread_local std::weak_ptr<HttpClient> current;
    std::shared_ptr<HttpClient> client = current.lock();
    if (!client) {
        client.reset(new HttpClient);
        current = client;
    }
    return client;
}

HttpClient::HttpClient()
{
    for (int i = 0; i < Managers; ++i) {
        auto manager = std::make_unique<QNetworkAccessManager>();
        manager->setRedirectPolicy(QNetworkRequest::NoLessSafeRedirectPolicy);
        m_managers.push_back(std::move(manager));
    }
}

HttpClient::~HttpClient() = default;

QNetworkReply *HttpClient::send(const QByteArray &method, const QNetworkRequest &request,
                                const QByteArray &body)
{
    QNetworkAccessManager *manager = m_managers[m_next].get();
    m_next = (m_next + 1) % m_managers.size();
    return manager->sendCustomRequest(request, method, body);
}
