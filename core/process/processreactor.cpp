#include "processreactor.h"

#include <QSocketNotifier>

#include <algorithm>
#include <vector>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

namespace {

thread_local std::weak_ptr<ProcessReactor> t_reactor;

constexpr int TagBits = 8;

} // namespace

std::shared_ptr<ProcessReactor> ProcessReactor::forThisThread()
{
    if (auto reactor = t_reactor.lock())
        return reactor;
    std::shared_ptr<ProcessReactor> reactor(new ProcessReactor);
    if (!reactor->init())
        return {};
    t_reactor = reactor;
    return reactor;
}

bool ProcessReactor::init()
{
    m_epoll = epoll_create1(EPOLL_CLOEXEC);
    m_devNull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (m_epoll < 0 || m_devNull < 0) {
        qWarning("taskdeck: cannot set up process watching: %s", strerror(errno));
        return false;
    }
    m_notifier = std::make_unique<QSocketNotifier>(m_epoll, QSocketNotifier::Read);
    QObject::connect(m_notifier.get(), &QSocketNotifier::activated, m_notifier.get(),
                     [this] { dispatch(); });
    return true;
}

ProcessReactor::~ProcessReactor()
{
    m_notifier.reset();
    if (m_epoll >= 0)
        close(m_epoll);
    if (m_devNull >= 0)
        close(m_devNull);
}

ProcessReactor::ClientId ProcessReactor::addClient(Client *client)
{
    const ClientId id = m_nextId++;
    m_clients.emplace(id, client);
    return id;
}

void ProcessReactor::removeClient(ClientId id)
{
    m_clients.erase(id);
}

bool ProcessReactor::watch(ClientId id, int fd, int tag)
{
    Q_ASSERT(tag >= 0 && tag < (1 << TagBits));
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = (id << TagBits) | quint64(tag);
    return epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &event) == 0;
}

void ProcessReactor::unwatch(int fd)
{
    epoll_ctl(m_epoll, EPOLL_CTL_DEL, fd, nullptr);
}

// One wake-up: every ready descriptor is reported to its client, then each client that
// heard something gets wakeDone(). Clients may add and remove clients and watches
// meanwhile (a finished run makes the dispatcher start the next one): events are looked
// up by client id, never by descriptor, so a reused descriptor number cannot reach the
// wrong client.
void ProcessReactor::dispatch()
{
    const auto self = shared_from_this(); // a client may drop the last other reference
    epoll_event events[64];
    const int n = epoll_wait(m_epoll, events, 64, 0);
    if (n <= 0)
        return;
    std::vector<ClientId> touched;
    touched.reserve(size_t(n));
    for (int i = 0; i < n; ++i) {
        const ClientId id = events[i].data.u64 >> TagBits;
        const int tag = int(events[i].data.u64 & ((1 << TagBits) - 1));
        const auto it = m_clients.find(id);
        if (it == m_clients.end())
            continue;
        if (std::find(touched.begin(), touched.end(), id) == touched.end())
            touched.push_back(id);
        it->second->fdReady(tag, events[i].events);
    }
    for (const ClientId id : touched) {
        const auto it = m_clients.find(id);
        if (it != m_clients.end())
            it->second->wakeDone();
    }
}
