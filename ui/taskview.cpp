#include "taskview.h"

#include "actionfactory.h"
#include "columnchooser.h"
#include "dependencygraph.h"
#include "runafterdialog.h"
#include "submission.h"
#include "taskdetails.h"
#include "taskexport.h"
#include "taskfilterproxymodel.h"
#include "taskitemdelegate.h"
#include "tasktablemodel.h"

#include <QAction>
#include <QDir>
#include <QFileDialog>
#include <QHeaderView>
#include <QMenu>
#include <QMessageBox>
#include <QMouseEvent>
#include <QPointer>
#include <QPushButton>
#include <QSaveFile>
#include <QScopedValueRollback>
#include <QScrollBar>
#include <QSet>
#include <QStyle>

TaskView::TaskView(TaskSource *source, QWidget *parent)
    : QTableView(parent)
    , m_source(source)
    , m_model(new TaskTableModel(source, this))
    , m_proxy(new TaskFilterProxyModel(this))
    , m_delegate(new TaskItemDelegate(this))
{
    m_proxy->setSourceModel(m_model);
    setObjectName(QStringLiteral("taskTable"));
    setModel(m_proxy);
    setItemDelegate(m_delegate);
    setSelectionBehavior(QAbstractItemView::SelectRows);
    setSelectionMode(QAbstractItemView::ExtendedSelection);
    setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed);
    setWordWrap(false);
    setShowGrid(false);
    setAlternatingRowColors(true);
    setHorizontalScrollMode(QAbstractItemView::ScrollPerPixel);
    setMouseTracking(true);
    // Rows of one height, and a vertical header that never measures them: 100,000 rows
    // cost nothing until they are scrolled into view.
    verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
    verticalHeader()->hide();
    QHeaderView *header = horizontalHeader();
    header->setSectionsMovable(true);
    header->setHighlightSections(false);
    header->setStretchLastSection(true);
    // Started fits "20 Nov 14:03", a task of an earlier day.
    const int widths[TaskTableModel::ColumnCount] = {52, 130, 64,  56, 150, 96, 56,
                                                     76, 64,  160, 52, 90,  90};
    for (int c = 0; c < TaskTableModel::ColumnCount; ++c)
        header->resizeSection(c, widths[c]);
    // The queue's order beside the priority that decides it.
    header->moveSection(header->visualIndex(TaskTableModel::QueuePosition),
                        header->visualIndex(TaskTableModel::Priority) + 1);
    // What a task waits for before its result, which stays last (stretched).
    header->moveSection(header->visualIndex(TaskTableModel::DependsOn),
                        header->visualIndex(TaskTableModel::Result));

    // A cluster's tasks name their worker; the local engine's have none.
    setColumnHidden(TaskTableModel::Worker, !(source && source->hasWorkers()));
    setSortingEnabled(true);
    sortByColumn(TaskTableModel::Id, Qt::AscendingOrder);
    // Dragging pending rows reorders the queue (the model's drop tells the source);
    // dropping files is the window's business.
    setDragEnabled(true);
    setAcceptDrops(true);
    setDragDropMode(QAbstractItemView::InternalMove);
    setDragDropOverwriteMode(true);
    setDefaultDropAction(Qt::MoveAction);
    setDropIndicatorShown(true);

    m_columns = new ColumnChooser(header);
    createActions();
    // Double-click (or Return) opens a task's details; on a pending task's priority it edits.
    connect(this, &QAbstractItemView::activated, this, [this](const QModelIndex &index) {
        if (!(index.flags() & Qt::ItemIsEditable))
            showDetails();
    });
    setContextMenuPolicy(Qt::CustomContextMenu);
    connect(this, &QWidget::customContextMenuRequested, this, [this](const QPoint &pos) {
        updateActions();
        m_contextMenu->popup(viewport()->mapToGlobal(pos));
    });
    connect(m_delegate, &TaskItemDelegate::cancelClicked, m_source,
            [this](TaskId id) { m_source->cancel(id); });
    connect(selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            &TaskView::onCurrentRowChanged);
    connect(selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &TaskView::updateActions);
    for (auto before :
         {&QAbstractItemModel::rowsAboutToBeInserted, &QAbstractItemModel::rowsAboutToBeRemoved})
        connect(m_proxy, before, this, &TaskView::rememberRowUnderPointer);
    for (auto after : {&QAbstractItemModel::rowsInserted, &QAbstractItemModel::rowsRemoved})
        connect(m_proxy, after, this, &TaskView::keepRowUnderPointer);
    connect(m_proxy, &QAbstractItemModel::layoutAboutToBeChanged, this,
            &TaskView::rememberRowUnderPointer);
    connect(m_proxy, &QAbstractItemModel::layoutChanged, this, &TaskView::keepRowUnderPointer);
    updateActions();
}

bool TaskView::viewportEvent(QEvent *event)
{
    switch (event->type()) {
    case QEvent::MouseMove:
        m_pointer = static_cast<QMouseEvent *>(event)->position().toPoint();
        break;
    case QEvent::HoverEnter:
    case QEvent::HoverMove:
        m_pointer = static_cast<QHoverEvent *>(event)->position().toPoint();
        break;
    case QEvent::Leave:
    case QEvent::HoverLeave:
        m_pointer.reset();
        break;
    default:
        break;
    }
    return QTableView::viewportEvent(event);
}

void TaskView::rememberRowUnderPointer()
{
    if (!m_pointer || m_anchorId != 0)
        return;
    const QModelIndex index = indexAt(*m_pointer);
    if (!index.isValid())
        return;
    m_anchorId = index.data(TaskTableModel::IdRole).value<TaskId>();
    m_anchorRow = index.row();
}

void TaskView::keepRowUnderPointer()
{
    const TaskId id = std::exchange(m_anchorId, 0);
    if (id == 0)
        return;
    const int sourceRow = m_model->rowOf(id);
    if (sourceRow < 0)
        return;
    const QModelIndex now = m_proxy->mapFromSource(m_model->index(sourceRow, 0));
    if (!now.isValid() || now.row() == m_anchorRow)
        return;
    // The scroll bar's range must know of the new rows before it can follow them.
    updateGeometries();
    const int rows = now.row() - m_anchorRow;
    const int step =
        verticalScrollMode() == ScrollPerPixel ? verticalHeader()->defaultSectionSize() : 1;
    verticalScrollBar()->setValue(verticalScrollBar()->value() + rows * step);
}

// The selection model outlives this object's own part (the model and proxy are deleted
// with the widget): what it says from then on is for no one here.
TaskView::~TaskView()
{
    disconnect(selectionModel(), nullptr, this, nullptr);
}

// Shortcuts leave Qt's and the desktop's standard keys to the widgets (Ctrl+Home/End go
// to the first and last row or line, Shift+Del cuts in a text field): reordering is on Alt,
// cancelling all pending on Ctrl+Shift+Del.
void TaskView::createActions()
{
    QStyle *s = style();
    const auto add = [this](Action which, const QString &text, const QString &name,
                            const QKeySequence &key, const QIcon &icon, auto slot) {
        QAction *action = makeAction(this, text, name, key, icon);
        connect(action, &QAction::triggered, this, slot);
        addAction(action);
        m_actions[which] = action;
        return action;
    };

    add(Export, tr("&Export…"), QStringLiteral("actionExport"), QKeySequence(Qt::CTRL | Qt::Key_E),
        s->standardIcon(QStyle::SP_DialogSaveButton), &TaskView::exportWithDialog)
        ->setStatusTip(tr("Write the selected tasks, or all shown, as JSON lines or CSV"));
    add(Cancel, tr("&Cancel selected"), QStringLiteral("actionCancel"),
        QKeySequence(Qt::Key_Delete), s->standardIcon(QStyle::SP_DialogCancelButton),
        &TaskView::cancelSelected);
    add(CancelPending, tr("Cancel all &pending"), QStringLiteral("actionCancelPending"),
        QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Delete),
        s->standardIcon(QStyle::SP_DialogDiscardButton), &TaskView::confirmCancelAllPending);
    add(CancelAll, tr("Cancel &all…"), QStringLiteral("actionCancelAll"),
        QKeySequence(Qt::CTRL | Qt::ALT | Qt::SHIFT | Qt::Key_Delete), QIcon(),
        &TaskView::confirmCancelAll);
    add(MoveToTop, tr("Move to &top"), QStringLiteral("actionMoveToTop"),
        QKeySequence(Qt::ALT | Qt::Key_Home), s->standardIcon(QStyle::SP_ArrowUp),
        &TaskView::moveSelectedToTop);
    add(MoveToBottom, tr("Move to &bottom"), QStringLiteral("actionMoveToBottom"),
        QKeySequence(Qt::ALT | Qt::Key_End), s->standardIcon(QStyle::SP_ArrowDown),
        &TaskView::moveSelectedToBottom);
    add(RaisePriority, tr("&Raise priority"), QStringLiteral("actionRaisePriority"),
        QKeySequence(Qt::ALT | Qt::Key_Up), QIcon(), &TaskView::raiseSelectedPriority);
    add(LowerPriority, tr("&Lower priority"), QStringLiteral("actionLowerPriority"),
        QKeySequence(Qt::ALT | Qt::Key_Down), QIcon(), &TaskView::lowerSelectedPriority);
    add(EditPriority, tr("&Edit priority"), QStringLiteral("actionEditPriority"),
        QKeySequence(Qt::Key_F2), QIcon(), &TaskView::editPriority);
    add(RetryFailed, tr("Re&try failed"), QStringLiteral("actionRetryFailed"),
        QKeySequence(Qt::CTRL | Qt::Key_R), s->standardIcon(QStyle::SP_BrowserReload),
        &TaskView::retryFailed)
        ->setStatusTip(tr("Read the failed tasks' scripts again and run them in their place"));
    add(Rerun, tr("Re-r&un"), QStringLiteral("actionRerun"),
        QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_R), s->standardIcon(QStyle::SP_MediaPlay),
        &TaskView::rerunSelected)
        ->setStatusTip(tr("Run the selected finished tasks again as new tasks, "
                          "with the same definition"));
    add(ClearFinished, tr("Clear &finished"), QStringLiteral("actionClearFinished"),
        QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_L),
        s->standardIcon(QStyle::SP_DialogResetButton), &TaskView::confirmClearFinished);

    add(Details, tr("&Details…"), QStringLiteral("actionDetails"),
        QKeySequence(Qt::CTRL | Qt::Key_I), s->standardIcon(QStyle::SP_FileDialogInfoView),
        &TaskView::showDetails)
        ->setStatusTip(tr("Everything about the task: definition, timings, whole result or "
                          "error and stack"));
    add(RunAfter, tr("Run &after…"), QStringLiteral("actionRunAfter"),
        QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_A), QIcon(), &TaskView::runAfterSelected)
        ->setStatusTip(tr("Make the selected pending tasks wait for other tasks"));

    m_contextMenu = new QMenu(this);
    m_contextMenu->setObjectName(QStringLiteral("taskContextMenu"));
    m_contextMenu->addAction(m_actions[Details]);
    m_contextMenu->addAction(m_actions[Rerun]);
    m_contextMenu->addAction(m_actions[Cancel]);
    m_contextMenu->addSeparator();
    m_contextMenu->addAction(m_actions[MoveToTop]);
    m_contextMenu->addAction(m_actions[MoveToBottom]);
    m_contextMenu->addAction(m_actions[EditPriority]);
    m_contextMenu->addAction(m_actions[RunAfter]);
    m_contextMenu->addSeparator();
    m_contextMenu->addAction(m_actions[Export]);
}

void TaskView::setPauseState(std::function<bool()> queuePaused,
                             std::function<QStringList()> groupsPaused)
{
    m_queuePaused = std::move(queuePaused);
    m_groupsPaused = std::move(groupsPaused);
}

// ---- the source's updates ----

void TaskView::applyUpdate(const EngineUpdate &update)
{
    const bool wasEmpty = m_model->rowCount() == 0;
    m_model->applyUpdate(update);
    if (m_followRunning && wasEmpty)
        followRunningTask();
    updateActions();
}

void TaskView::refreshLive()
{
    // Durations and cancel countdowns are computed when painted: repaint the visible rows.
    if (m_model->hasLiveRows())
        viewport()->update();
    if (m_followRunning)
        followRunningTask();
    highlightDependencies();
}

// Enables what applies to the selection. Called after each batch and selection change, so
// it looks at no more than a few thousand selected rows: past them it enables Re-run, which
// then tells the user if none of the selection had finished.
void TaskView::updateActions()
{
    constexpr int MaxLooked = 2000;
    bool finished = false;
    int looked = 0;
    const QItemSelection selection = selectionModel()->selection();
    for (const QItemSelectionRange &range : selection) {
        for (int r = range.top(); r <= range.bottom() && !finished; ++r) {
            const QModelIndex index = m_proxy->index(r, TaskTableModel::Id);
            finished = isFinished(TaskState(index.data(TaskTableModel::StateRole).toInt())) ||
                       ++looked >= MaxLooked;
        }
        if (finished)
            break;
    }
    const std::optional<TaskId> current = currentTask();
    if (selection.isEmpty() && current) {
        const int row = m_model->rowOf(*current);
        finished = row >= 0 && isFinished(m_model->row(row).state);
    }
    m_actions[Rerun]->setEnabled(finished);
    // What acts on the selected tasks (or the current one) needs one.
    const bool any = !selection.isEmpty() || current;
    for (Action which : {Cancel, MoveToTop, MoveToBottom, RaisePriority, LowerPriority,
                         EditPriority, Details, RunAfter})
        m_actions[which]->setEnabled(any);
}

// ---- selection ----

QList<TaskId> TaskView::selectedTasks() const
{
    QModelIndexList rows = selectionModel()->selectedRows(TaskTableModel::Id);
    std::sort(rows.begin(), rows.end(),
              [](const QModelIndex &a, const QModelIndex &b) { return a.row() < b.row(); });
    QList<TaskId> ids;
    ids.reserve(rows.size());
    for (const QModelIndex &index : std::as_const(rows))
        ids.append(index.data(TaskTableModel::IdRole).value<TaskId>());
    if (ids.isEmpty())
        if (const auto current = currentTask())
            ids.append(*current);
    return ids;
}

std::optional<TaskId> TaskView::currentTask() const
{
    const QModelIndex current = currentIndex();
    if (!current.isValid())
        return std::nullopt;
    return current.data(TaskTableModel::IdRole).value<TaskId>();
}

bool TaskView::selectTask(TaskId id)
{
    const int row = m_model->rowOf(id);
    if (row < 0)
        return false;
    const QModelIndex index = m_proxy->mapFromSource(m_model->index(row, TaskTableModel::Name));
    if (!index.isValid())
        return false;
    selectionModel()->setCurrentIndex(index, QItemSelectionModel::ClearAndSelect |
                                                 QItemSelectionModel::Rows);
    scrollTo(index);
    return true;
}

// Until the user picks a task, the stack and log panes show a running one: the first
// running row, kept while it runs (checked once a second, and when the first tasks come).
void TaskView::followRunningTask()
{
    const auto current = currentTask();
    if (current) {
        const int row = m_model->rowOf(*current);
        if (row >= 0 && m_model->row(row).state == TaskState::Running)
            return;
    }
    for (int r = 0; r < m_proxy->rowCount(); ++r) {
        const QModelIndex index = m_proxy->index(r, TaskTableModel::Name);
        if (TaskState(index.data(TaskTableModel::StateRole).toInt()) != TaskState::Running)
            continue;
        const QScopedValueRollback<bool> automatic(m_selectingAutomatically, true);
        selectionModel()->setCurrentIndex(index, QItemSelectionModel::ClearAndSelect |
                                                     QItemSelectionModel::Rows);
        return;
    }
    if (!current && m_proxy->rowCount() > 0) {
        const QScopedValueRollback<bool> automatic(m_selectingAutomatically, true);
        selectionModel()->setCurrentIndex(m_proxy->index(0, TaskTableModel::Name),
                                          QItemSelectionModel::ClearAndSelect |
                                              QItemSelectionModel::Rows);
    }
}

void TaskView::onCurrentRowChanged()
{
    if (!m_selectingAutomatically)
        m_followRunning = false;
    updateActions();
    highlightDependencies();
    Q_EMIT currentTaskChanged(currentTask());
}

// ---- actions ----

void TaskView::cancelSelected()
{
    const QList<TaskId> ids = selectedTasks();
    if (ids.isEmpty())
        return;
    // Tasks waiting for these to succeed would be cancelled with them: say how many.
    if (const qsizetype with = DependencyGraph::cancelledWith(*m_model, ids).size(); with > 0) {
        const QString question =
            (ids.size() == 1 ? tr("Cancel 1 task?") : tr("Cancel %1 tasks?").arg(ids.size())) +
            u' ' +
            (with == 1 ? tr("1 task waiting for them will be cancelled with them.")
                       : tr("%1 tasks waiting for them will be cancelled with them.").arg(with));
        const bool yes = m_confirmCancel ? m_confirmCancel(question)
                                         : QMessageBox::question(this, tr("Cancel tasks"),
                                                                 question) == QMessageBox::Yes;
        if (!yes)
            return;
    }
    m_source->cancel(ids);
}

// Run after...: the selected pending tasks wait for the tasks the user picks.
void TaskView::runAfterSelected()
{
    QList<TaskId> pending;
    for (TaskId id : selectedTasks())
        if (const int row = m_model->rowOf(id);
            row >= 0 && m_model->row(row).state == TaskState::Pending)
            pending.append(id);
    if (pending.isEmpty()) {
        Q_EMIT statusMessage(tr("Run after: only a pending task can wait for others"), 5000);
        return;
    }
    std::optional<TaskDependencies> picked;
    if (m_pickDependencies) {
        picked = m_pickDependencies(pending);
    } else {
        RunAfterDialog dialog(*m_model, pending, this);
        if (dialog.exec() == QDialog::Accepted)
            picked = dialog.dependencies();
    }
    if (!picked || picked->isEmpty())
        return;
    QPointer<TaskView> self(this);
    m_source->addDependencies(pending, *picked, this, [self](const QString &refusal) {
        if (self && !refusal.isEmpty())
            Q_EMIT self->statusMessage(tr("Run after refused: %1").arg(refusal), 10000);
    });
}

// Tints the rows of the tasks the current one waits for, and of those waiting for it.
void TaskView::highlightDependencies()
{
    const std::optional<TaskId> current = currentTask();
    if (!current) {
        m_model->setHighlighted({}, {});
        return;
    }
    m_model->setHighlighted(DependencyGraph::waitedFor(*m_model, *current),
                            DependencyGraph::waiting(*m_model, *current));
}

void TaskView::cancelAllPending()
{
    m_source->cancelAllPending();
}

void TaskView::cancelAll()
{
    m_source->cancelAll();
}

void TaskView::moveSelectedToTop()
{
    // Last first, so that the selection keeps its order at the head of the queue.
    const QList<TaskId> ids = selectedTasks();
    for (auto it = ids.crbegin(); it != ids.crend(); ++it)
        m_source->moveToTop(*it);
}

void TaskView::moveSelectedToBottom()
{
    for (TaskId id : selectedTasks())
        m_source->moveToBottom(id);
}

void TaskView::changeSelectedPriority(int delta)
{
    for (TaskId id : selectedTasks()) {
        const int row = m_model->rowOf(id);
        if (row >= 0 && m_model->row(row).state == TaskState::Pending)
            m_model->setData(m_model->index(row, TaskTableModel::Priority),
                             m_model->row(row).priority + delta);
    }
}

void TaskView::raiseSelectedPriority()
{
    changeSelectedPriority(+1);
}

void TaskView::lowerSelectedPriority()
{
    changeSelectedPriority(-1);
}

TaskDetails *TaskView::showDetails()
{
    const std::optional<TaskId> id = currentTask();
    if (!id)
        return nullptr;
    auto *details =
        new TaskDetails(m_source, *id, m_model->retryOf(*id), m_model->retriedAs(*id), this);
    details->setAttribute(Qt::WA_DeleteOnClose);
    details->show();
    return details;
}

void TaskView::editPriority()
{
    const QModelIndex current = currentIndex();
    if (!current.isValid())
        return;
    edit(current.siblingAtColumn(TaskTableModel::Priority));
}

void TaskView::retryFailed()
{
    // The failed tasks' scripts are read again (they may have been fixed since) and
    // submitted as new tasks; the failed rows stay, linked to them.
    QList<TaskId> ids;
    QStringList files;
    for (int r = 0; r < m_model->rowCount(); ++r) {
        const TaskTableModel::Row &row = m_model->row(r);
        if ((row.state == TaskState::Failed || row.state == TaskState::TimedOut) &&
            m_model->retriedAs(row.id) == 0) {
            ids.append(row.id);
            files.append(row.file);
        }
    }
    if (ids.isEmpty()) {
        Q_EMIT statusMessage(tr("No failed task to retry"), 4000);
        return;
    }
    // A script named by several failed tasks is read once, rejected at most once.
    const Submission submission = Submission::load(files);
    // The new ids come in the order of the entries (one copy each): entry k retries
    // ids[entries[k].input].
    QList<TaskId> retried;
    for (const Submission::Entry &entry : submission.entries())
        for (int c = 0; c < entry.copies; ++c)
            retried.append(ids[entry.input]);
    submission.queueOn(*m_source, this, [this, retried](const QList<TaskId> &newIds) {
        for (qsizetype i = 0; i < newIds.size() && i < retried.size(); ++i)
            m_model->linkRetry(retried[i], newIds[i]);
    });
    const int queued = int(submission.taskCount());
    const QStringList &rejected = submission.rejections();
    if (!rejected.isEmpty())
        Q_EMIT filesRejected(rejected);
    Q_EMIT statusMessage(tr("Retrying %n task(s); the failed ones stay listed with their "
                            "errors",
                            nullptr, queued),
                         6000);
}

QList<TaskId> TaskView::selectedFinishedTasks() const
{
    QList<TaskId> ids;
    for (TaskId id : selectedTasks()) {
        const int row = m_model->rowOf(id);
        if (row >= 0 && isFinished(m_model->row(row).state))
            ids.append(id);
    }
    return ids;
}

int TaskView::rerunSelected()
{
    const QList<TaskId> ids = selectedFinishedTasks();
    if (ids.isEmpty()) {
        Q_EMIT statusMessage(tr("Select finished tasks to re-run them"), 4000);
        return 0;
    }
    m_source->rerun(ids);
    // New tasks of a paused group wait: say so, or the re-run would seem to do nothing.
    QStringList waiting;
    const QStringList paused = m_groupsPaused ? m_groupsPaused() : QStringList();
    for (TaskId id : ids) {
        const QString &group = m_model->row(m_model->rowOf(id)).group;
        if (paused.contains(group) && !waiting.contains(group))
            waiting.append(group);
    }
    QString message = tr("Re-running %n task(s) as new tasks", nullptr, int(ids.size()));
    if (m_queuePaused && m_queuePaused())
        message += tr("; the queue is paused: they start when you resume it (Ctrl+P)");
    else if (waiting.size() == 1)
        message += tr("; group %1 is paused: they start when you resume it in Limits (Ctrl+L)")
                       .arg(waiting.constFirst());
    else if (!waiting.isEmpty())
        message += tr("; groups %1 are paused: they start when you resume them in Limits "
                      "(Ctrl+L)")
                       .arg(waiting.join(QStringLiteral(", ")));
    Q_EMIT statusMessage(message, 10000);
    return int(ids.size());
}

void TaskView::forget(const QList<TaskId> &ids)
{
    if (!ids.isEmpty())
        m_source->forget(ids);
}

namespace {

bool confirm(QWidget *parent, const QString &title, const QString &text, const QString &yes)
{
    QMessageBox box(QMessageBox::Question, title, text, QMessageBox::NoButton, parent);
    box.setObjectName(QStringLiteral("confirmDialog"));
    QPushButton *ok = box.addButton(yes, QMessageBox::DestructiveRole);
    ok->setObjectName(QStringLiteral("confirmYes"));
    QPushButton *no = box.addButton(QMessageBox::Cancel);
    box.setDefaultButton(no);
    box.exec();
    return box.clickedButton() == ok;
}

} // namespace

void TaskView::confirmCancelAllPending()
{
    const int pending = m_model->groupTotals().pending;
    if (pending == 0) {
        Q_EMIT statusMessage(tr("No pending task to cancel"), 4000);
        return;
    }
    if (!confirm(window(), tr("Cancel all pending"),
                 tr("Cancel the %n pending task(s)? They will not run.", nullptr, pending),
                 tr("Cancel %n task(s)", nullptr, pending)))
        return;
    cancelAllPending();
    Q_EMIT statusMessage(tr("Cancelled %n pending task(s)", nullptr, pending), 8000);
}

void TaskView::confirmCancelAll()
{
    const TaskTableModel::GroupStats totals = m_model->groupTotals();
    const int unfinished = totals.pending + totals.running;
    if (unfinished == 0) {
        Q_EMIT statusMessage(tr("No unfinished task to cancel"), 4000);
        return;
    }
    if (!confirm(window(), tr("Cancel all"),
                 tr("Cancel every unfinished task (%1 running, %2 pending)?")
                     .arg(totals.running)
                     .arg(totals.pending),
                 tr("Cancel %n task(s)", nullptr, unfinished)))
        return;
    cancelAll();
    Q_EMIT statusMessage(tr("Cancelling %n task(s)", nullptr, unfinished), 8000);
}

void TaskView::confirmClearFinished()
{
    const int finished = m_model->groupTotals().finished;
    if (finished == 0) {
        Q_EMIT statusMessage(tr("No finished task to clear"), 4000);
        return;
    }
    if (!confirm(window(), tr("Clear finished"),
                 tr("Remove the %n finished task(s) from the table and from the saved "
                    "history? This cannot be undone; export them first (Ctrl+E) to keep "
                    "them.",
                    nullptr, finished),
                 tr("Clear %n task(s)", nullptr, finished)))
        return;
    clearFinished();
}

void TaskView::clearFinished()
{
    QList<TaskId> cleared;
    const int removed = m_model->removeTasks([&cleared](const TaskTableModel::Row &row) {
        if (!isFinished(row.state))
            return false;
        cleared.append(row.id);
        return true;
    });
    forget(cleared);
    Q_EMIT statusMessage(tr("Cleared %n finished task(s)", nullptr, removed), 4000);
    Q_EMIT tasksRemoved();
}

// ---- export ----

QList<TaskId> TaskView::tasksToExport() const
{
    QModelIndexList rows = selectionModel()->selectedRows(TaskTableModel::Id);
    QList<TaskId> ids;
    if (rows.isEmpty()) {
        ids.reserve(m_proxy->rowCount());
        for (int r = 0; r < m_proxy->rowCount(); ++r)
            ids.append(
                m_proxy->index(r, TaskTableModel::Id).data(TaskTableModel::IdRole).value<TaskId>());
        return ids;
    }
    std::sort(rows.begin(), rows.end(),
              [](const QModelIndex &a, const QModelIndex &b) { return a.row() < b.row(); });
    ids.reserve(rows.size());
    for (const QModelIndex &index : std::as_const(rows))
        ids.append(index.data(TaskTableModel::IdRole).value<TaskId>());
    return ids;
}

// The table keeps too little (no result value, no stack): the tasks are asked of the
// source, and written when it answers.
void TaskView::exportTasks(const QString &path, ExportDone done)
{
    const TaskExport::Format format =
        TaskExport::formatOf(path).value_or(TaskExport::Format::JsonLines);
    m_source->lookUp(
        tasksToExport(), this,
        [this, path, format, done](const QList<std::optional<TaskSnapshot>> &found) {
            QList<TaskSnapshot> tasks;
            tasks.reserve(found.size());
            for (const std::optional<TaskSnapshot> &task : found)
                if (task)
                    tasks.append(*task);
            QSaveFile file(path);
            if (!file.open(QIODevice::WriteOnly) || !TaskExport::write(file, format, tasks) ||
                !file.commit()) {
                const QString reason = file.errorString();
                Q_EMIT statusMessage(tr("Cannot export to %1: %2").arg(path, reason), 15000);
                if (done)
                    done(false, reason);
                return;
            }
            m_exportPath = path;
            Q_EMIT statusMessage(
                tr("Exported %n task(s) to %1", nullptr, int(tasks.size())).arg(path), 8000);
            if (done)
                done(true, QString());
        });
}

void TaskView::exportWithDialog()
{
    const int count = int(tasksToExport().size());
    if (count == 0) {
        Q_EMIT statusMessage(tr("No task to export"), 4000);
        return;
    }
    const QString jsonFilter = tr("JSON lines (*.jsonl *.ndjson *.json)");
    const QString csvFilter = tr("CSV (*.csv)");
    QString filter =
        TaskExport::formatOf(m_exportPath) == TaskExport::Format::Csv ? csvFilter : jsonFilter;
    const QString start = m_exportPath.isEmpty()
                              ? QDir::home().filePath(QStringLiteral("taskdeck-tasks.jsonl"))
                              : m_exportPath;
    const bool selected = !selectionModel()->selectedRows().isEmpty();
    QString path =
        QFileDialog::getSaveFileName(window(),
                                     selected ? tr("Export %n selected task(s)", nullptr, count)
                                              : tr("Export %n shown task(s)", nullptr, count),
                                     start, jsonFilter + QStringLiteral(";;") + csvFilter, &filter);
    if (path.isEmpty())
        return;
    // A name without a known suffix gets the one of the chosen filter.
    if (!TaskExport::formatOf(path)) {
        const auto format =
            filter == csvFilter ? TaskExport::Format::Csv : TaskExport::Format::JsonLines;
        path += u'.' + TaskExport::suffix(format);
    }
    exportTasks(path, [this, path](bool written, const QString &error) {
        if (!written)
            QMessageBox::warning(
                window(), tr("Export failed"),
                tr("Cannot write %1:\n%2").arg(QDir::toNativeSeparators(path), error));
    });
}
