#include "stackpane.h"

#include "statestyle.h"
#include "tasksource.h"

#include <QDateTime>
#include <QFile>
#include <QFileInfo>
#include <QFontDatabase>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QPlainTextEdit>
#include <QSplitter>
#include <QTextBlock>
#include <QTreeWidget>
#include <QVBoxLayout>

#include <functional>

namespace {

enum ItemRole { FileRole = Qt::UserRole, LineRole };
enum TreeColumn { WhatColumn, WhereColumn, WaitingColumn };
constexpr int SourceContext = 12; // lines shown above and below the frame's line

QString waitedFor(qint64 sinceMs, qint64 nowMs)
{
    if (sinceMs < 0)
        return {};
    const double s = qMax<qint64>(0, nowMs - sinceMs) / 1000.0;
    return s < 10 ? QStringLiteral("%1 s").arg(s, 0, 'f', 1)
                  : QStringLiteral("%1 s").arg(qint64(s));
}

} // namespace

StackPane::StackPane(TaskSource *source, QWidget *parent)
    : QWidget(parent)
    , m_taskSource(source)
    , m_header(new QLabel(this))
    , m_tree(new QTreeWidget(this))
    , m_sourceTitle(new QLabel(this))
    , m_source(new QPlainTextEdit(this))
{
    m_header->setObjectName(QStringLiteral("stackHeader"));
    m_header->setWordWrap(true);
    m_header->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_header->setContentsMargins(4, 2, 4, 2);
    m_tree->setObjectName(QStringLiteral("stackTree"));
    m_tree->setHeaderLabels({tr("Coroutine / frame"), tr("Where"), tr("Waiting")});
    m_tree->setUniformRowHeights(true);
    m_tree->header()->setStretchLastSection(false);
    m_tree->header()->setSectionResizeMode(WhatColumn, QHeaderView::Stretch);
    m_tree->header()->setSectionResizeMode(WhereColumn, QHeaderView::ResizeToContents);
    m_tree->header()->setSectionResizeMode(WaitingColumn, QHeaderView::ResizeToContents);
    m_tree->setAcceptDrops(false);
    m_tree->viewport()->setAcceptDrops(false);

    m_sourceTitle->setObjectName(QStringLiteral("sourceTitle"));
    m_sourceTitle->setContentsMargins(4, 2, 4, 2);
    m_sourceTitle->setText(tr("Click a frame to see its source"));
    m_source->setObjectName(QStringLiteral("sourceView"));
    m_source->setReadOnly(true);
    m_source->setLineWrapMode(QPlainTextEdit::NoWrap);
    m_source->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_source->setAcceptDrops(false);
    m_source->viewport()->setAcceptDrops(false);

    auto *sourceBox = new QWidget(this);
    auto *sourceLayout = new QVBoxLayout(sourceBox);
    sourceLayout->setContentsMargins(0, 0, 0, 0);
    sourceLayout->setSpacing(0);
    sourceLayout->addWidget(m_sourceTitle);
    sourceLayout->addWidget(m_source);

    auto *split = new QSplitter(Qt::Vertical, this);
    split->setObjectName(QStringLiteral("stackSplitter"));
    split->addWidget(m_tree);
    split->addWidget(sourceBox);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(2);
    layout->addWidget(m_header);
    layout->addWidget(split, 1);

    connect(m_tree, &QTreeWidget::currentItemChanged, this,
            [this](QTreeWidgetItem *item) { onItemActivated(item); });
    connect(m_tree, &QTreeWidget::itemClicked, this, [this](QTreeWidgetItem *item) {
        m_framePicked = true;
        onItemActivated(item);
    });
    setTask(std::nullopt);
}

StackPane::~StackPane()
{
    if (m_taskSource && m_task)
        m_taskSource->unwatch(*m_task);
}

void StackPane::setTask(std::optional<TaskId> id)
{
    if (id == m_task && id)
        return;
    if (m_taskSource && m_task)
        m_taskSource->unwatch(*m_task);
    m_task = id;
    m_shape.clear();
    m_framePicked = false;
    m_tree->clear();
    m_source->clear();
    m_cpuSeen.clear();
    m_sourceTitle->setText(tr("Click a frame to see its source"));
    if (!id) {
        m_header->setText(tr("Select a task to see where it is."));
        return;
    }
    m_header->setText(tr("Task %1").arg(*id));
    if (m_taskSource)
        m_taskSource->watch(*id);
}

void StackPane::applyWatched(const QList<WatchedTask> &watched)
{
    if (!m_task)
        return;
    // The last report on this task is the newest.
    for (auto it = watched.crbegin(); it != watched.crend(); ++it) {
        if (it->id == *m_task) {
            showWatched(*it);
            return;
        }
    }
}

void StackPane::showWatched(const WatchedTask &watched)
{
    const std::optional<TaskSnapshot> &task = watched.snapshot;
    if (!task) {
        m_header->setText(tr("Task %1 is not known to the engine.").arg(*m_task));
        return;
    }
    m_state = task->state;
    // An ended task's waits are measured up to its end, not up to now.
    const qint64 now = isFinished(task->state) && task->finishedAtMs >= 0
                           ? task->finishedAtMs
                           : QDateTime::currentMSecsSinceEpoch();
    QString head =
        QStringLiteral("<b>#%1 %2</b> — <span style=\"color:%3\">%4</span>")
            .arg(task->id)
            .arg(task->name.toHtmlEscaped(), StateStyle::color(task->state, palette()).name(),
                 StateStyle::label(task->state));
    std::shared_ptr<const CoroutineStack> stack;
    switch (task->state) {
    case TaskState::Pending: {
        const QString &reason = watched.waitReason;
        head += QStringLiteral("<br>%1").arg(tr("Waiting: %1").arg(reason).toHtmlEscaped());
        break;
    }
    case TaskState::Running:
        if (task->cancelRequested)
            head += QStringLiteral(" (%1)").arg(tr("cancelling"));
        // What a cancel does to it, before anyone presses the button.
        if (task->kind == ScriptKind::Process)
            head += QStringLiteral("<br>%1").arg(
                tr("Cancel sends SIGTERM to its process group, then SIGKILL after the grace "
                   "period."));
        if (!task->status.isEmpty())
            head += QStringLiteral(" — %1").arg(task->status.toHtmlEscaped());
        stack = watched.stack;
        break;
    default:
        // Finished, interrupted included: the stack where it ended (or was cut short).
        if (!task->error.isEmpty())
            head += QStringLiteral("<br>%1").arg(task->error.section(u'\n', 0, 0).toHtmlEscaped());
        else if (task->state == TaskState::Interrupted)
            head += QStringLiteral("<br>%1").arg(tr("Taskdeck stopped while this task ran."));
        stack = task->stack;
        break;
    }
    m_header->setText(head);
    if (stack) {
        m_processes = task->kind == ScriptKind::Process;
        showStack(*stack, now);
        return;
    }
    // No stack: say why, in the tree itself.
    QString why;
    if (task->state == TaskState::Pending)
        why = tr("(not started yet)");
    else if (task->state == TaskState::Succeeded)
        why = tr("(no stack: the task ended normally)");
    else if (task->state == TaskState::Running)
        why = tr("(no stack yet)");
    else if (task->state == TaskState::Interrupted)
        why = tr("(no stack recorded before Taskdeck stopped)");
    else
        why = tr("(no stack recorded)");
    // Nothing runs any more: no line stays marked as where it runs.
    if (!m_framePicked && !m_source->extraSelections().isEmpty())
        m_source->setExtraSelections({});
    const QStringList shape{why};
    if (shape != m_shape) {
        m_shape = shape;
        m_tree->clear();
        auto *item = new QTreeWidgetItem(m_tree);
        item->setText(WhatColumn, why);
        item->setForeground(WhatColumn, palette().color(QPalette::PlaceholderText));
    }
}

void StackPane::showStack(const CoroutineStack &stack, qint64 nowMs)
{
    // Build into a detached root, compare shapes, and only replace the tree when the
    // frames changed: the user's current item and scroll position survive the refresh.
    QTreeWidgetItem root;
    QStringList shape{QString::number(int(m_state))}; // icons and highlight follow the state
    addCoroutine(&root, stack, nowMs, shape);
    if (shape == m_shape) {
        // Same frames: refresh the "waiting" times (and tooltips: CPU time) in place.
        std::function<void(QTreeWidgetItem *, QTreeWidgetItem *)> sync = [&](QTreeWidgetItem *from,
                                                                             QTreeWidgetItem *to) {
            for (int i = 0; i < from->childCount() && i < to->childCount(); ++i) {
                for (int c : {WhereColumn, WaitingColumn}) {
                    if (to->child(i)->text(c) != from->child(i)->text(c))
                        to->child(i)->setText(c, from->child(i)->text(c));
                    if (to->child(i)->toolTip(c) != from->child(i)->toolTip(c))
                        to->child(i)->setToolTip(c, from->child(i)->toolTip(c));
                }
                sync(from->child(i), to->child(i));
            }
        };
        sync(&root, m_tree->invisibleRootItem());
        return;
    }
    m_shape = shape;
    m_tree->clear();
    m_tree->addTopLevelItems(root.takeChildren());
    m_tree->expandAll();
    // Until a frame is picked, the source shown is where the task is now.
    if (!m_framePicked) {
        for (QTreeWidgetItemIterator it(m_tree); *it; ++it) {
            const int line = (*it)->data(WhatColumn, LineRole).toInt();
            const QString file = (*it)->data(WhatColumn, FileRole).toString();
            if (line > 0 && !file.isEmpty()) {
                showSource(file, line);
                break;
            }
        }
    }
}

void StackPane::addCoroutine(QTreeWidgetItem *parent, const CoroutineStack &stack, qint64 nowMs,
                             QStringList &shape)
{
    auto *item = new QTreeWidgetItem(parent);
    if (stack.isProcess()) {
        // A process task's tree: one node per process, under it the process itself
        // (command line, pid, name and running time).
        const ProcessInfo &p = stack.process;
        const QString state = tr("process %1").arg(p.stateText());
        item->setText(WhatColumn, tr("process %1").arg(p.pid));
        item->setIcon(WhatColumn,
                      StateStyle::icon(isFinished(m_state) ? m_state : TaskState::Running));
        item->setText(WhereColumn, state);
        item->setText(WaitingColumn, waitedFor(p.startedAtMs, nowMs));
        shape.append(QStringLiteral("proc %1 %2").arg(p.pid).arg(state));
        auto *f = new QTreeWidgetItem(item);
        f->setText(WhatColumn, p.commandLine);
        f->setToolTip(WhatColumn, p.commandLine);
        // CPU share since the last look and resident memory, from /proc, as htop has them.
        QString usage;
        if (p.cpuSeconds >= 0 && !p.exited) {
            const auto seen = m_cpuSeen.constFind(p.pid);
            if (seen != m_cpuSeen.constEnd() && nowMs > seen->second)
                usage = tr("CPU %1%").arg(qRound(100.0 * (p.cpuSeconds - seen->first) * 1000.0 /
                                                 double(nowMs - seen->second)));
            else if (p.runningMs > 0)
                usage = tr("CPU %1%").arg(qRound(100000.0 * p.cpuSeconds / double(p.runningMs)));
            m_cpuSeen.insert(p.pid, {p.cpuSeconds, nowMs});
        }
        if (p.rssBytes >= 0)
            usage += (usage.isEmpty() ? QString() : QStringLiteral(", ")) +
                     tr("RSS %1").arg(QLocale::system().formattedDataSize(p.rssBytes));
        f->setText(WhereColumn, usage.isEmpty()
                                    ? p.summary()
                                    : QStringLiteral("%1 — %2").arg(p.summary(), usage));
        if (p.cpuSeconds >= 0)
            f->setToolTip(WhereColumn,
                          tr("%1, %2 s of CPU time").arg(p.summary()).arg(p.cpuSeconds, 0, 'f', 2));
        shape.append(QStringLiteral("  %1").arg(p.commandLine));
        for (const CoroutineStack &child : stack.children)
            addCoroutine(item, child, nowMs, shape);
        shape.append(QStringLiteral("end"));
        return;
    }
    const QString title = stack.id == 0 ? tr("main") : tr("coroutine %1").arg(stack.id);
    item->setText(WhatColumn, title);
    // A coroutine of an ended task is shown as the task ended, never as running.
    item->setIcon(WhatColumn, StateStyle::icon(isFinished(m_state)        ? m_state
                                               : stack.awaiting.isEmpty() ? TaskState::Running
                                                                          : TaskState::Pending));
    if (!stack.awaiting.isEmpty()) {
        item->setText(WhereColumn, tr("awaiting %1").arg(stack.awaiting));
        item->setText(WaitingColumn, waitedFor(stack.awaitingSinceMs, nowMs));
        item->setToolTip(
            WhereColumn,
            tr("awaiting %1 for %2").arg(stack.awaiting, waitedFor(stack.awaitingSinceMs, nowMs)));
    }
    shape.append(QStringLiteral("co %1 %2").arg(stack.id).arg(stack.awaiting));
    for (const StackFrame &frame : stack.frames) {
        auto *f = new QTreeWidgetItem(item);
        f->setText(WhatColumn, frame.function.isEmpty() ? tr("(main chunk)") : frame.function);
        const QString where =
            frame.line > 0
                ? QStringLiteral("%1:%2").arg(QFileInfo(frame.file).fileName()).arg(frame.line)
                : QFileInfo(frame.file).fileName();
        f->setText(WhereColumn, where);
        f->setToolTip(WhereColumn, frame.line > 0
                                       ? QStringLiteral("%1:%2").arg(frame.file).arg(frame.line)
                                       : frame.file);
        f->setData(WhatColumn, FileRole, frame.file);
        f->setData(WhatColumn, LineRole, frame.line);
        shape.append(
            QStringLiteral("  %1:%2 %3").arg(frame.file).arg(frame.line).arg(frame.function));
    }
    for (const CoroutineStack &child : stack.children)
        addCoroutine(item, child, nowMs, shape);
    shape.append(QStringLiteral("end"));
}

void StackPane::onItemActivated(QTreeWidgetItem *item)
{
    if (!item)
        return;
    const QString file = item->data(WhatColumn, FileRole).toString();
    const int line = item->data(WhatColumn, LineRole).toInt();
    if (!file.isEmpty() && line > 0)
        showSource(file, line);
}

void StackPane::showSource(const QString &file, int line)
{
    auto cached = m_files.find(file);
    if (cached == m_files.end()) {
        QFile f(file);
        QStringList lines;
        if (f.open(QIODevice::ReadOnly) && f.size() <= 4 * 1024 * 1024)
            lines = QString::fromUtf8(f.readAll()).split(u'\n');
        cached = m_files.insert(file, lines);
    }
    const QStringList &lines = *cached;
    m_sourceTitle->setText(QStringLiteral("%1:%2").arg(file).arg(line));
    if (lines.isEmpty()) {
        m_source->setPlainText(tr("(cannot read %1)").arg(file));
        return;
    }
    const int first = qMax(1, line - SourceContext);
    const int last = qMin(int(lines.size()), line + SourceContext);
    const int width = QString::number(last).size();
    QStringList shown;
    for (int n = first; n <= last; ++n)
        shown.append(QStringLiteral("%1  %2").arg(n, width).arg(lines[n - 1]));
    m_source->setPlainText(shown.join(u'\n'));

    // Where it runs in the selection colour; where an ended task stopped in its state's.
    QTextEdit::ExtraSelection highlight;
    if (isFinished(m_state)) {
        QColor color = StateStyle::color(m_state, palette());
        color.setAlpha(70);
        highlight.format.setBackground(color);
    } else {
        highlight.format.setBackground(palette().color(QPalette::Highlight));
        highlight.format.setForeground(palette().color(QPalette::HighlightedText));
    }
    highlight.format.setProperty(QTextFormat::FullWidthSelection, true);
    const QTextBlock block = m_source->document()->findBlockByNumber(line - first);
    highlight.cursor = QTextCursor(block);
    m_source->setExtraSelections({highlight});
    m_source->setTextCursor(highlight.cursor);
    m_source->centerCursor();
}
