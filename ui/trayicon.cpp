#include "trayicon.h"

#include <QAction>
#include <QDateTime>
#include <QMenu>
#include <QSystemTrayIcon>
#include <QWidget>

TrayIcon::TrayIcon(QWidget *window, QAction *pause, QAction *quit)
    : QObject(window)
    , m_window(window)
    , m_icon(new QSystemTrayIcon(window->windowIcon(), this))
    , m_menu(new QMenu(window))
{
    m_icon->setObjectName(QStringLiteral("trayIcon"));
    QAction *show = m_menu->addAction(tr("&Show Taskdeck"));
    connect(show, &QAction::triggered, window, [window] {
        window->showNormal();
        window->raise();
        window->activateWindow();
    });
    if (pause)
        m_menu->addAction(pause);
    if (quit) {
        m_menu->addSeparator();
        m_menu->addAction(quit);
    }
    m_icon->setContextMenu(m_menu);
    connect(m_icon, &QSystemTrayIcon::activated, window,
            [window](QSystemTrayIcon::ActivationReason reason) {
                if (reason != QSystemTrayIcon::Trigger)
                    return;
                if (window->isVisible() && !window->isMinimized() && window->isActiveWindow()) {
                    window->showMinimized();
                } else {
                    window->showNormal();
                    window->raise();
                    window->activateWindow();
                }
            });
    m_toolTip = tr("Taskdeck");
    m_icon->setToolTip(m_toolTip);
    if (QSystemTrayIcon::isSystemTrayAvailable())
        m_icon->show();
}

QString TrayIcon::describe(const EngineCounts &c)
{
    QStringList parts{tr("%1 running").arg(c.running), tr("%1 pending").arg(c.pending)};
    if (c.failedOrTimedOut() > 0)
        parts.append(tr("%1 failed").arg(c.failedOrTimedOut()));
    parts.append(tr("%1 succeeded").arg(c.succeeded));
    return parts.join(QStringLiteral(", "));
}

void TrayIcon::applyUpdate(const EngineUpdate &update)
{
    const EngineCounts &counts = update.counts;
    const QString tip = tr("Taskdeck: %1").arg(describe(counts));
    if (tip != m_toolTip) {
        m_toolTip = tip;
        m_icon->setToolTip(tip);
    }
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    // Failures of tasks that ran long enough for someone to have looked away.
    QStringList failed;
    for (const TaskSnapshot &t : update.changed) {
        if ((t.state != TaskState::Failed && t.state != TaskState::TimedOut) || t.startedAtMs < 0 ||
            t.finishedAtMs - t.startedAtMs < m_minRunMs)
            continue;
        failed.append(QStringLiteral("#%1 %2: %3")
                          .arg(t.id)
                          .arg(t.name, t.error.section(u'\n', 0, 0).left(120)));
    }
    if (failed.size() == 1)
        notify(tr("A task failed"), failed.constFirst());
    else if (!failed.isEmpty())
        notify(tr("%n task(s) failed", nullptr, int(failed.size())), failed.mid(0, 3).join(u'\n'));

    if (m_last.active() == 0 && counts.active() > 0) {
        m_busySinceMs = now;
        m_finishedAtBusy = m_last.finished();
        m_failedAtBusy = m_last.failedOrTimedOut();
    } else if (m_last.active() > 0 && counts.active() == 0 && m_busySinceMs >= 0) {
        if (now - m_busySinceMs >= m_minRunMs)
            notify(tr("Queue empty"),
                   tr("%n task(s) ended, %1 failed", nullptr,
                      qMax(0, counts.finished() - m_finishedAtBusy))
                       .arg(qMax(0, counts.failedOrTimedOut() - m_failedAtBusy)));
        m_busySinceMs = -1;
    }
    m_last = counts;
}

void TrayIcon::notify(const QString &title, const QString &text)
{
    if (!m_enabled)
        return;
    Q_EMIT notified(title, text);
    if (m_icon->isVisible())
        m_icon->showMessage(title, text, QSystemTrayIcon::Information, 8000);
}
